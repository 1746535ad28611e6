// report.html in a real browser: Debian's headless Chromium opens the page
// of a real experiment with #selftest, which checks every chart's canvas
// for its lines' (and bands') pixels, the summary's rows and the errors
// seen, and writes the verdict into the DOM that --dump-dom prints.
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "core/durable_file.h"
#include "core/process.h"
#include "core/text.h"
#include "support/cli_runner.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

std::string browser() {
  for (const char* name : {"chromium-headless-shell", "chromium"})
    if (bnlab::program_on_path(name)) return name;
  return "";
}

struct PageCheck {
  bool ok = false;
  std::string verdict;  // the self-test's JSON
  std::string console;  // lines the page logged (it logs none when well)
};

PageCheck open_in_browser(const fs::path& page) {
  // --virtual-time-budget: run the page's timers (the self-test's) before dumping the DOM.
  const auto result = bnlab::run_process({browser(), "--no-sandbox", "--disable-gpu", "--window-size=1200,900",
                                          "--virtual-time-budget=5000", "--dump-dom",
                                          "file://" + fs::absolute(page).string() + "#selftest"});
  // Plain string search: std::regex recurses per character and overflows
  // the stack on a page of this size.
  PageCheck check;
  const std::string tag = "<pre id=\"selftest\" data-ok=\"";
  const size_t at = result.output.find(tag);
  if (at != std::string::npos) {
    const size_t verdict = result.output.find('>', at) + 1;
    check.ok = result.output.compare(at + tag.size(), 4, "true") == 0;
    check.verdict = result.output.substr(verdict, result.output.find("</pre>", verdict) - verdict);
  }
  // Chromium reports what the page writes to its console as ":CONSOLE" lines on stderr.
  for (const auto& line : bnlab::split(result.output, '\n'))
    if (line.find(":CONSOLE") != std::string::npos) check.console += line + "\n";
  if (check.verdict.empty()) check.verdict = "no self-test result in the page; browser said:\n" + result.output;
  return check;
}

void replace_in_file(const fs::path& from, const fs::path& to, const std::string& what, const std::string& with) {
  std::string page = bnlab::read_whole_file(from);
  const size_t at = page.find(what);
  REQUIRE(at != std::string::npos);
  page.replace(at, what.size(), with);
  bnlab::write_file_atomically(to, page);
}

}  // namespace

TEST_CASE("report.html draws every chart in a real browser, without errors, a row per variant",
          "[report][browser][cli]") {
  REQUIRE_FALSE(browser().empty());  // scripts/setup.sh installs chromium-headless-shell
  bnlab::test::TempDir out;
  // Two seeds (a band to draw) and BatchNorm internals (their charts).
  auto run = bnlab::test::run_bnlab(
      {"run", "smoke", "--seed", "0", "--seed", "1", "--set", "log.bn_stats_every=8", "--out", out.path().string()});
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  auto report = bnlab::test::run_bnlab({"report", "smoke", "--results", out.path().string(), "--no-plots"});
  INFO(report.output);
  REQUIRE(report.exit_code == 0);
  const fs::path page = out / "smoke" / "report.html";
  REQUIRE(fs::exists(page));
  CHECK_THAT(report.output, Contains("report.html"));

  const auto check = open_in_browser(page);
  INFO(check.verdict);
  INFO(check.console);
  CHECK(check.ok);
  CHECK(check.console.empty());
  CHECK_THAT(check.verdict, Contains("\"summary_rows\":2"));

  SECTION("the self-test is seen to fail: a line not drawn, a script error") {
    // {what the page says, what a broken copy says instead, what the verdict then shows}
    const auto [original, broken, shown] = GENERATE(table<std::string, std::string, std::string>({
        {"stroke: s.color, width: 2", "stroke: s.color, width: 0", "\"line\":0"},
        {"buildAll();\n", "buildAll();\nnoSuchFunction();\n", "noSuchFunction"},
    }));
    const fs::path copy = out / "broken.html";
    replace_in_file(page, copy, original, broken);
    const auto failed = open_in_browser(copy);
    INFO(failed.verdict);
    CHECK_FALSE(failed.ok);
    CHECK_THAT(failed.verdict, Contains(shown));
  }
}
