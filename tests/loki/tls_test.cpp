// TLS options of LokiAdapter against a real TLS server on loopback, with a
// throwaway CA, server and client certificates made by the openssl tool.

#include <catch2/catch.hpp>
#include <httplib.h>

#include <fstream>
#include <thread>

#include "loki_adapter.hpp"
#include "process.hpp"

using namespace lognurse;
using namespace lognurse::loki;
using lognurse::test::run_command;
using lognurse::test::TempDir;

namespace {

void openssl(const std::vector<std::string>& args) {
  std::vector<std::string> command = {"/usr/bin/openssl"};
  command.insert(command.end(), args.begin(), args.end());
  const auto result = run_command(command, "", std::chrono::seconds(30));
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
}

/// A CA, and a certificate signed by it for `name` (with the IP 127.0.0.1).
struct Certificates {
  explicit Certificates(const TempDir& dir) : dir_(dir) {
    openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", dir.file("ca.key"), "-out", dir.file("ca.pem"), "-days", "1",
             "-subj", "/CN=lognurse test CA"});
    std::ofstream(dir.file("san.cnf")) << "subjectAltName=IP:127.0.0.1\n";
    sign("server");
    sign("client");
  }

  void sign(const std::string& name) {
    openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", dir_.file(name + ".key"), "-out", dir_.file(name + ".csr"), "-subj",
             "/CN=" + name});
    openssl({"x509", "-req", "-in", dir_.file(name + ".csr"), "-CA", dir_.file("ca.pem"),
             "-CAkey", dir_.file("ca.key"), "-CAcreateserial", "-out", dir_.file(name + ".pem"),
             "-days", "1", "-extfile", dir_.file("san.cnf")});
  }

  const TempDir& dir_;
};

/// An HTTPS server on 127.0.0.1 answering /ready; with `client_ca` it asks
/// for and verifies a client certificate.
class TlsServer {
public:
  TlsServer(const TempDir& dir, bool client_ca)
      : server_(dir.file("server.pem").c_str(), dir.file("server.key").c_str(),
                client_ca ? dir.file("ca.pem").c_str() : nullptr) {
    REQUIRE(server_.is_valid());
    server_.Get("/ready", [](const httplib::Request&, httplib::Response& response) {
      response.set_content("ready\n", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 5000 && !server_.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ~TlsServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

private:
  httplib::SSLServer server_;
  int port_ = 0;
  std::thread thread_;
};

LokiAdapterOptions options_for(const TlsServer& server) {
  LokiAdapterOptions options;
  options.endpoint = server.url();
  options.timeout = std::chrono::milliseconds(5000);
  return options;
}

}  // namespace

TEST_CASE("TLS verification trusts ca_file and refuses an unknown CA", "[loki][tls]") {
  TempDir dir;
  Certificates certificates(dir);
  TlsServer server(dir, false);

  LokiAdapterOptions trusted = options_for(server);
  trusted.ca_file = dir.file("ca.pem");
  const auto ok = LokiAdapter(trusted).ready();
  INFO((ok.ok() ? "" : ok.error().error.message));
  CHECK(ok.ok());

  const auto refused = LokiAdapter(options_for(server)).ready();
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().error.code == "loki.tls_error");
  CHECK(refused.error().error.message.find("TLS with Loki at " + server.url() +
                                           " failed for GET /ready: ") == 0);

  LokiAdapterOptions unverified = options_for(server);
  unverified.verify_tls = false;
  CHECK(LokiAdapter(unverified).ready().ok());
}

TEST_CASE("a client certificate is presented for mutual TLS", "[loki][tls]") {
  TempDir dir;
  Certificates certificates(dir);
  TlsServer server(dir, true);

  LokiAdapterOptions with_certificate = options_for(server);
  with_certificate.ca_file = dir.file("ca.pem");
  with_certificate.client_cert_file = dir.file("client.pem");
  with_certificate.client_key_file = dir.file("client.key");
  const auto ok = LokiAdapter(with_certificate).ready();
  INFO((ok.ok() ? "" : ok.error().error.message));
  CHECK(ok.ok());

  LokiAdapterOptions without = options_for(server);
  without.ca_file = dir.file("ca.pem");
  CHECK_FALSE(LokiAdapter(without).ready().ok());
}
