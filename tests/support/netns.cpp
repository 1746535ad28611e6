#include "support/netns.h"

#include <fmt/format.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "core/process.h"

namespace bnlab::test {
namespace {

void must(const std::vector<std::string>& argv) {
  const auto result = run_process(argv);
  INFO(fmt::format("{}: {}", fmt::join(argv, " "), result.output));
  REQUIRE(result.exit_code == 0);
}

}  // namespace

TwoHosts::TwoHosts() {
  REQUIRE(geteuid() == 0);  // network namespaces need root (CI runs as root)
  // Names unique to this process: tests of several processes may overlap.
  const int id = getpid() % 100000, subnet = getpid() % 250 + 1;
  for (int h = 0; h < 2; ++h) {
    namespace_[h] = fmt::format("bnlab-{}-{}", id, h);
    interface_[h] = fmt::format("bnl{}v{}", id, h);  // at most 15 characters
    address_[h] = fmt::format("10.213.{}.{}", subnet, h + 1);
  }
  must({"ip", "netns", "add", namespace_[0]});
  must({"ip", "netns", "add", namespace_[1]});
  must({"ip", "link", "add", interface_[0], "netns", namespace_[0], "type", "veth", "peer", "name", interface_[1],
        "netns", namespace_[1]});
  for (int h = 0; h < 2; ++h) {
    must({"ip", "-n", namespace_[h], "addr", "add", address_[h] + "/24", "dev", interface_[h]});
    must({"ip", "-n", namespace_[h], "link", "set", interface_[h], "up"});
    must({"ip", "-n", namespace_[h], "link", "set", "lo", "up"});
  }
}

TwoHosts::~TwoHosts() {
  for (const auto& name : namespace_)
    if (!name.empty()) run_process({"ip", "netns", "delete", name});  // takes its end of the pair with it
}

std::vector<std::string> TwoHosts::on(int host) const {
  return {"ip", "netns", "exec", namespace_[host], "env", "GLOO_SOCKET_IFNAME=" + interface_[host]};
}

std::string TwoHosts::address(int host) const { return address_[host]; }

void TwoHosts::cut_link() const {
  for (int h = 0; h < 2; ++h) must({"ip", "-n", namespace_[h], "link", "set", interface_[h], "down"});
}

}  // namespace bnlab::test
