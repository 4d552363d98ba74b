#include "deploy_files.hpp"

#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace lognurse::deploy_test {

std::string source_path(const std::string& relative) {
  return std::string(LOGNURSE_SOURCE_DIR) + "/" + relative;
}

std::string read_text(const std::string& relative) {
  std::ifstream in(source_path(relative));
  if (!in) throw std::runtime_error("cannot read " + source_path(relative));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

YAML::Node load_yaml(const std::string& relative) { return YAML::Load(read_text(relative)); }

namespace {

void collect_scalars(const YAML::Node& node, std::vector<std::string>& out) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      out.push_back(node.Scalar());
      break;
    case YAML::NodeType::Sequence:
      for (const auto& item : node) collect_scalars(item, out);
      break;
    case YAML::NodeType::Map:
      for (const auto& item : node) {
        collect_scalars(item.first, out);
        collect_scalars(item.second, out);
      }
      break;
    default:
      break;
  }
}

}  // namespace

std::vector<std::string> all_scalars(const YAML::Node& node) {
  std::vector<std::string> out;
  collect_scalars(node, out);
  return out;
}

std::vector<std::string> map_keys(const YAML::Node& map) {
  std::vector<std::string> out;
  if (!map.IsMap()) return out;
  for (const auto& item : map) out.push_back(item.first.Scalar());
  return out;
}

std::string component_type(const std::string& id) { return id.substr(0, id.find('/')); }

std::string without_comments(const std::string& text) {
  std::string out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
        line.erase(i);
        break;
      }
    }
    out += line + "\n";
  }
  return out;
}

std::set<std::string> referenced_variables(const std::string& commented_text) {
  static const std::regex pattern(R"(\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*))");
  const std::string text = without_comments(commented_text);
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), pattern);
       it != std::sregex_iterator(); ++it) {
    // "$${…}" is an escaped dollar in Grafana provisioning, not a variable.
    const auto position = static_cast<std::size_t>(it->position(0));
    if (position > 0 && text[position - 1] == '$') continue;
    out.insert((*it)[1].str());
  }
  return out;
}

std::string image_tag(const std::string& image) {
  const auto slash = image.rfind('/');
  const auto colon = image.rfind(':');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) return "";
  return image.substr(colon + 1);
}

std::string image_repository(const std::string& image) {
  const auto tag = image_tag(image);
  return tag.empty() ? image : image.substr(0, image.size() - tag.size() - 1);
}

std::vector<int> version_numbers(const std::string& version) {
  std::vector<int> out;
  std::stringstream parts(version);
  std::string part;
  while (std::getline(parts, part, '.')) {
    if (part.empty() || part.find_first_not_of("0123456789") != std::string::npos) break;
    out.push_back(std::stoi(part));
  }
  return out;
}

}  // namespace lognurse::deploy_test
