// The loopback listener's policy toward browser pages: which Origin and Host
// values name this machine, exactly.

#include <catch2/catch.hpp>

#include "local_origin.hpp"

namespace lognurse::host {

TEST_CASE("loopback origins are local, look-alikes and other forms are not") {
  for (const char* origin : {"", "http://localhost", "http://localhost:8470", "https://LOCALHOST",
                             "http://127.0.0.1:3000", "http://127.255.0.9", "http://[::1]:8470",
                             "http://localhost:8470/path?q=1"}) {
    INFO(origin);
    CHECK(origin_is_local(origin));
  }
  for (const char* origin :
       {"null", "http://127.0.0.1.attacker.example", "http://localhost.attacker.example",
        "http://attacker.example", "http://user@localhost", "http://localhost:80a",
        "http://localhost:", "http://127.0.0.256", "http://127.1", "http://128.0.0.1",
        "http://[::2]", "localhost", "http://0177.0.0.1"}) {
    INFO(origin);
    CHECK_FALSE(origin_is_local(origin));
  }
}

TEST_CASE("loopback Host headers are local, with or without a port") {
  for (const char* host : {"", "localhost", "localhost:8470", "LocalHost:1", "127.0.0.1",
                           "127.0.0.1:8470", "[::1]", "[::1]:8470"}) {
    INFO(host);
    CHECK(host_is_local(host));
  }
  for (const char* host : {"attacker.example", "attacker.example:8470", "127.0.0.1.nip.io",
                           "[::1]x", "[::1", "localhost:http", "u@localhost", "10.0.0.1:8470"}) {
    INFO(host);
    CHECK_FALSE(host_is_local(host));
  }
}

TEST_CASE("a listen address is on loopback when its host names this machine's loopback") {
  CHECK(is_loopback_listen_address("127.0.0.1:8470"));
  CHECK(is_loopback_listen_address("LOCALHOST:8470"));
  CHECK(is_loopback_listen_address("[::1]:8470"));
  CHECK(is_loopback_listen_address(":8470"));
  CHECK_FALSE(is_loopback_listen_address("0.0.0.0:8470"));
  CHECK_FALSE(is_loopback_listen_address("192.168.1.5:8470"));
}

TEST_CASE("a refusal names the header at fault and what to use instead") {
  CHECK(foreign_page_refusal("", "localhost:8470").empty());
  CHECK(foreign_page_refusal("http://evil.example", "localhost:8470") ==
        "Origin http://evil.example is not allowed: this listener is on a loopback address and "
        "answers pages of local origins only (localhost, 127.0.0.1, [::1])");
  CHECK(foreign_page_refusal("", "evil.example:8470") ==
        "Host evil.example:8470 is not allowed: this listener is on a loopback address; use "
        "localhost, 127.0.0.1 or [::1]");
}

}  // namespace lognurse::host
