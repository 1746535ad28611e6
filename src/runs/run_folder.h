#pragma once
// Taking a run folder to write a run into: the lock, and the rules for what
// a folder may already hold.
#include <filesystem>
#include <string>

#include "runs/layout.h"
#include "runs/record.h"

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
  // failed, or running but unlocked (its process died). kNew replaces an
  // unfinished run only when it has no checkpoint: one with a checkpoint is
  // to be resumed, or discarded with kOverwrite. Replacing leaves a note in
  // replaced_note().
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

// What an unfinished run's record says it is, for messages: "the
// interrupted run", "a crashed run (...)".
std::string unfinished_description(const RunRecord& record);

}  // namespace bnlab::runs
