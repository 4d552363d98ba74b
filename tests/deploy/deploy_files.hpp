#pragma once

// Reading the deployment files under config/ for the tests that hold them to
// what Loki 3, the OpenTelemetry Collector, Tempo, Grafana and the host accept.

#include <set>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace lognurse::deploy_test {

/// Absolute path of a file given relative to the repository root.
std::string source_path(const std::string& relative);

/// The whole text of a file relative to the repository root; throws
/// std::runtime_error naming the path when it cannot be read.
std::string read_text(const std::string& relative);

/// Parses a YAML file relative to the repository root.
YAML::Node load_yaml(const std::string& relative);

/// Every scalar under `node`, depth first (map keys included).
std::vector<std::string> all_scalars(const YAML::Node& node);

/// The keys of a YAML map, in file order.
std::vector<std::string> map_keys(const YAML::Node& map);

/// The component type of a Collector component id: "otlp_http" for
/// "otlp_http/loki", the id itself when it has no "/".
std::string component_type(const std::string& id);

/// `text` with YAML and shell comments removed: from a "#" that starts a line
/// or follows a blank to the end of its line.
std::string without_comments(const std::string& text);

/// Names written as ${NAME}, ${NAME:-default} or ${env:NAME...} in `text`,
/// outside comments.
std::set<std::string> referenced_variables(const std::string& text);

/// The tag of an image reference ("3.7.6" for "grafana/loki:3.7.6"); empty
/// when it has none.
std::string image_tag(const std::string& image);

/// The repository of an image reference ("grafana/loki" for
/// "grafana/loki:3.7.6").
std::string image_repository(const std::string& image);

/// Numeric components of a dotted version ("3.7.6" -> {3, 7, 6}); stops at the
/// first part that is not a number.
std::vector<int> version_numbers(const std::string& version);

}  // namespace lognurse::deploy_test
