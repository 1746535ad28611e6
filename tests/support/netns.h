#pragma once
// Two hosts for data-parallel tests: two network namespaces joined by a veth
// pair, each end with its own address (10.213.<n>.1 and .2/24, private,
// existing only inside these namespaces), created by the test and removed
// with it. Needs root (CI runs as root) and iproute2.
#include <string>
#include <vector>

namespace bnlab::test {

class TwoHosts {
 public:
  TwoHosts();  // REQUIREs that it could be made, naming what failed
  ~TwoHosts();
  TwoHosts(const TwoHosts&) = delete;
  TwoHosts& operator=(const TwoHosts&) = delete;

  // The command prefix that runs a program on host 0 or 1, with Gloo bound to
  // that host's end of the link (GLOO_SOCKET_IFNAME).
  std::vector<std::string> on(int host) const;
  std::string address(int host) const;
  // Takes the link down (both ends), as a pulled cable.
  void cut_link() const;

 private:
  std::string namespace_[2], interface_[2], address_[2];
};

}  // namespace bnlab::test
