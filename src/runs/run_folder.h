#pragma once
// Taking a run folder to write a run into: the lock, and the rules for what
// a folder may already hold.
#include <filesystem>
#include <string>

#include "runs/layout.h"

namespace bnlab::runs {

class RunDirectory : public RunFiles {
 public:
  enum class Mode {
    kNew,        // refuse a finished run; replace an unfinished one
    kOverwrite,  // replace whatever is there
    kResume,     // keep an unfinished run's files to continue it; refuse otherwise
  };
  // Creates the folder and takes its lock. Refuses (std::runtime_error, with
  // the reason) when another process holds the lock, or as `mode` says. A
  // finished run is completed or diverged; an unfinished one interrupted,
  // failed, or running but unlocked (its process died). Replacing leaves a
  // note in replaced_note().
  RunDirectory(const std::filesystem::path& path, Mode mode);
  ~RunDirectory();
  RunDirectory(const RunDirectory&) = delete;
  RunDirectory& operator=(const RunDirectory&) = delete;

  const std::string& replaced_note() const { return replaced_note_; }

 private:
  void release();
  void remove_previous_files() const;

  int lock_fd_ = -1;
  std::string replaced_note_;
};

}  // namespace bnlab::runs
