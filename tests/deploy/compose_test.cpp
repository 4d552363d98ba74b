#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "deploy_files.hpp"

using lognurse::deploy_test::image_repository;
using lognurse::deploy_test::image_tag;
using lognurse::deploy_test::load_yaml;
using lognurse::deploy_test::map_keys;
using lognurse::deploy_test::read_text;
using lognurse::deploy_test::source_path;
using lognurse::deploy_test::version_numbers;

namespace {

const char* kCompose = "config/docker-compose.infrastructure.yml";

/// What a published image is known to contain, from its Dockerfile at the
/// pinned release: the programs a healthcheck may run, and the first release
/// of the repository that has them.
struct ImageContents {
  std::set<std::string> programs;
  std::vector<int> since;
};

/// grafana/loki from 3.6 and grafana/tempo from 2.10 are distroless (no shell,
/// wget or curl); loki -health exists from 3.7.0, tempo -health in 3.0.
/// grafana/grafana installs curl in both its Alpine and Ubuntu variants. The
/// Collector contrib image is FROM scratch: its binary and CA certificates.
const std::map<std::string, ImageContents>& known_images() {
  static const std::map<std::string, ImageContents> images = {
      {"grafana/loki", {{"/usr/bin/loki"}, {3, 7, 0}}},
      {"grafana/tempo", {{"/tempo"}, {3, 0, 0}}},
      {"grafana/grafana", {{"curl", "wget", "sh", "bash"}, {12, 0, 0}}},
      {"otel/opentelemetry-collector-contrib", {{}, {0, 144, 0}}},
  };
  return images;
}

/// Packages that the final stage of lognurse's Dockerfile installs.
std::set<std::string> lognurse_runtime_packages() {
  const auto text = read_text("config/lognurse.Dockerfile");
  const auto final_stage = text.rfind("\nFROM ");
  REQUIRE(final_stage != std::string::npos);
  const auto install = text.find("apt-get install", final_stage);
  REQUIRE(install != std::string::npos);
  const auto end = text.find("&& rm", install);
  std::set<std::string> out;
  std::string word;
  for (char c : text.substr(install, end - install) + " ") {
    if (c == ' ' || c == '\n' || c == '\\') {
      if (!word.empty() && word[0] != '-') out.insert(word);
      word.clear();
    } else {
      word += c;
    }
  }
  return out;
}

YAML::Node services() { return load_yaml(kCompose)["services"]; }

}  // namespace

TEST_CASE("compose runs Loki, Tempo, the Collector, Grafana and the host") {
  CHECK(map_keys(services()) ==
        std::vector<std::string>{"loki", "tempo", "otel-collector", "grafana", "lognurse"});
}

TEST_CASE("compose pins every image to a release and never to latest") {
  std::map<std::string, std::string> images;
  for (const auto& service : services()) {
    const auto image = service.second["image"].as<std::string>();
    INFO(service.first.Scalar() << ": " << image);
    const auto tag = image_tag(image);
    CHECK(tag != "latest");
    CHECK(version_numbers(tag).size() == 3);
    images[service.first.Scalar()] = image;
  }
  CHECK(images.at("loki") == "grafana/loki:3.7.6");
  CHECK(version_numbers(image_tag(images.at("loki")))[0] == 3);
  CHECK(images.at("tempo") == "grafana/tempo:3.0.3");
  CHECK(images.at("otel-collector") == "otel/opentelemetry-collector-contrib:0.159.0");
  CHECK(images.at("grafana") == "grafana/grafana:13.2.0");
  CHECK(images.at("lognurse") == std::string("lognurse/sample_host:") + LOGNURSE_PROJECT_VERSION);
  CHECK(read_text("config/lognurse.Dockerfile").find(":latest") == std::string::npos);
}

TEST_CASE("compose healthchecks run, in exec form, programs their images contain") {
  const auto runtime_packages = lognurse_runtime_packages();
  for (const auto& service : services()) {
    const auto name = service.first.Scalar();
    const auto image = service.second["image"].as<std::string>();
    const auto healthcheck = service.second["healthcheck"];
    INFO(name);
    if (name == "lognurse") {
      REQUIRE(healthcheck.IsDefined());
      CHECK(healthcheck["test"][0].as<std::string>() == "CMD");
      CHECK(healthcheck["test"][1].as<std::string>() == "curl");
      CHECK(runtime_packages.count("curl") == 1);
      continue;
    }
    const auto& contents = known_images().at(image_repository(image));
    CHECK(version_numbers(image_tag(image)) >= contents.since);
    if (contents.programs.empty()) {
      CHECK_FALSE(healthcheck.IsDefined());
      continue;
    }
    REQUIRE(healthcheck.IsDefined());
    // CMD-SHELL needs /bin/sh, which the distroless images lack.
    CHECK(healthcheck["test"][0].as<std::string>() == "CMD");
    CHECK(contents.programs.count(healthcheck["test"][1].as<std::string>()) == 1);
  }
  CHECK(services()["loki"]["healthcheck"]["test"][2].as<std::string>() == "-health");
  CHECK(services()["tempo"]["healthcheck"]["test"][2].as<std::string>() == "-health");
}

TEST_CASE("lognurse's image carries every library the host and its plugins link against") {
  const auto packages = lognurse_runtime_packages();
  for (const auto& package :
       {"libyaml-cpp0.7", "libspdlog1.10", "libfmt9", "libcpp-httplib0.11", "libcurl4",
        "libsqlite3-0", "libre2-9", "libzstd1", "liblz4-1", "ca-certificates"}) {
    INFO(package);
    CHECK(packages.count(package) == 1);
  }
}

TEST_CASE("compose waits only on services that have a healthcheck") {
  const auto all = services();
  for (const auto& service : all) {
    for (const auto& dependency : service.second["depends_on"]) {
      INFO(service.first.Scalar() << " -> " << dependency.first.Scalar());
      CHECK(dependency.second["condition"].as<std::string>() == "service_healthy");
      CHECK(all[dependency.first.Scalar()]["healthcheck"].IsDefined());
    }
  }
}

TEST_CASE("compose puts every service on one network") {
  const auto compose = load_yaml(kCompose);
  CHECK(map_keys(compose["networks"]) == std::vector<std::string>{"observability"});
  for (const auto& service : compose["services"]) {
    INFO(service.first.Scalar());
    REQUIRE(service.second["networks"].size() == 1);
    CHECK(service.second["networks"][0].as<std::string>() == "observability");
  }
}

TEST_CASE("compose declares every named volume it mounts and mounts every one it declares") {
  const auto compose = load_yaml(kCompose);
  std::set<std::string> used;
  for (const auto& service : compose["services"]) {
    for (const auto& mount : service.second["volumes"]) {
      const auto spec = mount.as<std::string>();
      const auto source = spec.substr(0, spec.find(':'));
      if (source[0] == '.' || source[0] == '/') {
        // A bind mount of a file beside the compose file must exist.
        if (source[0] == '.') {
          INFO(spec);
          CHECK(std::filesystem::exists(source_path("config/" + source.substr(2))));
        }
        continue;
      }
      used.insert(source);
    }
  }
  const auto declared = map_keys(compose["volumes"]);
  CHECK(used == std::set<std::string>(declared.begin(), declared.end()));
  CHECK(used == std::set<std::string>{"loki-data", "tempo-data", "grafana-data",
                                      "otelcol-storage", "lognurse-data"});
}

TEST_CASE("compose publishes ports on the loopback interface only") {
  for (const auto& service : services()) {
    for (const auto& port : service.second["ports"]) {
      INFO(service.first.Scalar() << ": " << port.as<std::string>());
      CHECK(port.as<std::string>().rfind("127.0.0.1:", 0) == 0);
    }
  }
}

TEST_CASE("compose builds the host from the repository with a config the image contains") {
  const auto lognurse = services()["lognurse"];
  CHECK(lognurse["build"]["context"].as<std::string>() == "..");
  CHECK(lognurse["build"]["dockerfile"].as<std::string>() == "config/lognurse.Dockerfile");
  const auto dockerfile = read_text("config/lognurse.Dockerfile");
  CHECK(dockerfile.find("COPY config/host.yaml config/host-loki.yaml /etc/lognurse/") !=
        std::string::npos);
  CHECK(lognurse["command"][1].as<std::string>() == "/etc/lognurse/host-loki.yaml");
}

TEST_CASE("compose's embedded override stores logs in the host and waits for it") {
  const auto embedded = load_yaml("config/docker-compose.embedded.yml")["services"];
  CHECK(map_keys(embedded) == std::vector<std::string>{"lognurse", "otel-collector"});
  CHECK(embedded["lognurse"]["command"][1].as<std::string>() == "/etc/lognurse/host.yaml");

  const auto collector = embedded["otel-collector"];
  REQUIRE(collector["command"].size() == 2);
  CHECK(collector["command"][0].as<std::string>() == "--config=/etc/otelcol-contrib/config.yaml");
  CHECK(collector["command"][1].as<std::string>() ==
        "--config=/etc/otelcol-contrib/embedded.yaml");
  CHECK(collector["depends_on"]["lognurse"]["condition"].as<std::string>() == "service_healthy");

  // The overlay the command names is the one the base file mounts.
  bool overlay_mounted = false;
  for (const auto& mount : services()["otel-collector"]["volumes"]) {
    overlay_mounted = overlay_mounted || mount.as<std::string>() ==
        "./otel-collector-embedded.yaml:/etc/otelcol-contrib/embedded.yaml:ro";
  }
  CHECK(overlay_mounted);
}

TEST_CASE("compose hosts are the ones the collector and grafana talk to") {
  const auto all = services();
  for (const auto& host : {"loki", "tempo", "lognurse"}) {
    INFO(host);
    CHECK(all[host].IsDefined());
  }
  const auto collector = all["otel-collector"];
  CHECK(collector["user"].as<std::string>() == "0:0");
  bool docker_logs_mounted = false;
  for (const auto& mount : collector["volumes"]) {
    docker_logs_mounted = docker_logs_mounted ||
        mount.as<std::string>() == "/var/lib/docker/containers:/var/lib/docker/containers:ro";
  }
  CHECK(docker_logs_mounted);
}
