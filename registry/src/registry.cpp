#include "lognurse/registry/registry.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <boost/dll/shared_library.hpp>
#include <spdlog/spdlog.h>

#include "lognurse/registry/guarded.hpp"

namespace lognurse::registry {

namespace fs = std::filesystem;

/// A plugin whose library stays mapped while this object, or any object the
/// plugin handed out, is alive.
struct Registry::LoadedPlugin {
  std::shared_ptr<boost::dll::shared_library> library;
  std::shared_ptr<Plugin> plugin;
  std::string file;
};

namespace {

/// Keeps `library` and `plugin` alive as long as the returned pointer is.
/// Members are destroyed in reverse order: the object first (its destructor is
/// plugin code), then the plugin, then the library.
template <typename T>
std::shared_ptr<T> keep_loaded(std::shared_ptr<T> object,
                               std::shared_ptr<boost::dll::shared_library> library,
                               std::shared_ptr<Plugin> plugin) {
  struct Holder {
    std::shared_ptr<boost::dll::shared_library> library;
    std::shared_ptr<Plugin> plugin;
    std::shared_ptr<T> object;
  };
  auto holder = std::make_shared<Holder>(Holder{std::move(library), std::move(plugin), object});
  return std::shared_ptr<T>(object.get(), [holder](T*) mutable { holder.reset(); });
}

std::vector<std::string> split_kinds(const char* provides) {
  std::vector<std::string> kinds;
  std::string current;
  for (const char* p = provides ? provides : ""; *p; ++p) {
    if (*p == ',') {
      if (!current.empty()) kinds.push_back(current);
      current.clear();
    } else if (*p != ' ') {
      current += *p;
    }
  }
  if (!current.empty()) kinds.push_back(current);
  return kinds;
}

std::string octal_mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%03o", static_cast<unsigned>(mode & 0777));
  return text;
}

/// Why code at `path` must not be trusted, or "" when it may be loaded: only
/// its owner (the host's user or root) may change it. Symbolic links are
/// judged by what they point to.
std::string untrusted_reason(const fs::path& path, const char* what) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    return std::string("cannot inspect the ") + what + ": " + std::strerror(errno);
  }
  const uid_t host_user = ::geteuid();
  if (info.st_uid != host_user && info.st_uid != 0) {
    return std::string("the ") + what + " " + path.string() + " is owned by uid " +
           std::to_string(info.st_uid) + ", neither the host's user (uid " +
           std::to_string(host_user) + ") nor root; chown it or remove it";
  }
  if (info.st_mode & (S_IWGRP | S_IWOTH)) {
    return std::string("the ") + what + " " + path.string() + " is writable by other users (mode " +
           octal_mode(info.st_mode) + "), so anyone could replace the code the host runs; " +
           "chmod go-w " + path.string();
  }
  return "";
}

}  // namespace

Registry::Registry(RegistryOptions options) : options_(std::move(options)) {}

Registry::~Registry() { shutdown(); }

void Registry::refuse(PluginRecord record, const std::string& reason) {
  spdlog::warn("plugin refused: {}: {}", record.file, reason);
  record.loaded = false;
  record.reason = reason;
  records_.push_back(std::move(record));
}

std::size_t Registry::load_all() {
  std::size_t loaded = 0;
  for (const auto& dir : options_.plugin_dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      spdlog::warn("plugin directory {} does not exist or is not a directory; skipped", dir);
      continue;
    }
    std::vector<fs::path> files;
    for (const auto& item : fs::directory_iterator(dir, ec)) {
      if (item.path().extension() == ".so") files.push_back(fs::absolute(item.path()));
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      bool seen = false;
      {
        std::lock_guard lock(mutex_);
        seen = std::any_of(records_.begin(), records_.end(),
                           [&](const PluginRecord& r) { return r.file == file.string(); });
      }
      if (!seen && load_file(file.string())) ++loaded;
    }
  }
  return loaded;
}

bool Registry::load_file(const std::string& path) {
  PluginRecord record;
  record.file = path;

  std::string distrust = untrusted_reason(fs::absolute(path).parent_path(), "plugin directory");
  if (distrust.empty()) distrust = untrusted_reason(path, "plugin file");
  if (!distrust.empty()) {
    std::lock_guard lock(mutex_);
    refuse(std::move(record), distrust);
    return false;
  }

  auto library = std::make_shared<boost::dll::shared_library>();
  try {
    library->load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    // Boost.DLL's error codes are useless; the loader's reason is in what().
    std::lock_guard lock(mutex_);
    refuse(std::move(record), std::string("not a loadable shared object: ") + e.what());
    return false;
  }

  if (!library->has(kDescriptorSymbol)) {
    std::lock_guard lock(mutex_);
    refuse(std::move(record), std::string("no plugin descriptor: the file does not export ") +
                                  kDescriptorSymbol + " (build it with LOGNURSE_PLUGIN)");
    return false;
  }
  using DescriptorFn = const lognurse_plugin_descriptor*();
  const lognurse_plugin_descriptor* descriptor = library->get<DescriptorFn>(kDescriptorSymbol)();
  if (descriptor == nullptr) {
    std::lock_guard lock(mutex_);
    refuse(std::move(record), "the plugin descriptor function returned null");
    return false;
  }
  if (descriptor->abi_version != kPluginAbiVersion) {
    std::lock_guard lock(mutex_);
    refuse(std::move(record), "plugin ABI version " + std::to_string(descriptor->abi_version) +
                                  " does not match the host's " +
                                  std::to_string(kPluginAbiVersion) +
                                  "; rebuild the plugin against this host_api");
    return false;
  }
  record.name = descriptor->name ? descriptor->name : "";
  record.version = descriptor->version ? descriptor->version : "";
  if (record.name.empty()) {
    std::lock_guard lock(mutex_);
    refuse(std::move(record), "the plugin descriptor has an empty name");
    return false;
  }
  if (!library->has(kCreateSymbol)) {
    std::lock_guard lock(mutex_);
    refuse(std::move(record), std::string("no factory: the file does not export ") + kCreateSymbol);
    return false;
  }

  {
    std::lock_guard lock(mutex_);
    for (const auto& other : records_) {
      if (other.loaded && other.name == record.name) {
        refuse(std::move(record), "a plugin named \"" + other.name + "\" is already loaded from " +
                                      other.file + "; remove one of the two files");
        return false;
      }
    }
  }

  HostContext context;
  if (options_.plugin_configs.is_object() && options_.plugin_configs.contains(record.name)) {
    context.config = options_.plugin_configs[record.name];
  }
  if (context.config.is_null()) context.config = nlohmann::json::object();
  context.data_dir = options_.data_dir;
  if (options_.make_logger) context.logger = options_.make_logger(record.name);
  if (options_.make_metrics) context.metrics = options_.make_metrics(record.name);
  if (!context.metrics) context.metrics = discarding_metrics_sink();
  context.lookup = [this](const std::string& kind) -> std::shared_ptr<LogAggregationProtocol> {
    return kind == kLogAggregation ? log_aggregation() : nullptr;
  };

  std::shared_ptr<Plugin> plugin;
  std::vector<std::pair<std::string, std::shared_ptr<LogAggregationProtocol>>> backends;
  std::vector<std::shared_ptr<ToolProvider>> providers;
  try {
    using CreateFn = Plugin*(const HostContext*);
    Plugin* raw = library->get<CreateFn>(kCreateSymbol)(&context);
    if (raw == nullptr) throw std::runtime_error("the factory returned null");
    // The deleter keeps the library mapped until the plugin is destroyed.
    plugin = std::shared_ptr<Plugin>(raw, [library](Plugin* p) { delete p; });
    const auto kinds = split_kinds(descriptor->provides);
    if (std::find(kinds.begin(), kinds.end(), kLogAggregation) != kinds.end()) {
      backends = plugin->log_aggregation_backends();
    }
    if (std::find(kinds.begin(), kinds.end(), "tools") != kinds.end()) {
      providers = plugin->tool_providers();
    }
  } catch (const std::exception& e) {
    std::lock_guard lock(mutex_);
    refuse(std::move(record), std::string("the plugin factory threw: ") + e.what());
    return false;
  } catch (...) {
    std::lock_guard lock(mutex_);
    refuse(std::move(record), "the plugin factory threw a non-standard exception");
    return false;
  }

  // Collect the plugin's tools and check for clashes before registering any.
  std::vector<CatalogTool> new_tools;
  try {
    for (auto& provider : providers) {
      if (!provider) continue;
      auto kept = keep_loaded(provider, library, plugin);
      for (auto& spec : provider->tools()) {
        CatalogTool tool;
        tool.full_name = provider->service_name() + "_" + spec.name;
        tool.spec = std::move(spec);
        tool.plugin_file = path;
        tool.provider = kept;
        new_tools.push_back(std::move(tool));
      }
    }
  } catch (const std::exception& e) {
    plugin->shutdown();
    std::lock_guard lock(mutex_);
    refuse(std::move(record), std::string("listing the plugin's tools threw: ") + e.what());
    return false;
  }

  std::lock_guard lock(mutex_);
  for (const auto& tool : new_tools) {
    for (const auto& existing : tools_) {
      if (existing.full_name == tool.full_name) {
        plugin->shutdown();
        refuse(std::move(record), "tool " + tool.full_name + " is provided by both " +
                                      existing.plugin_file + " and " + path +
                                      "; remove one of the two plugins");
        return false;
      }
    }
  }
  for (auto& [kind, backend] : backends) {
    if (!backend) continue;
    const std::string name = backend->backend_name();
    for (const auto& [existing_name, existing] : backends_) {
      if (existing_name == name) {
        plugin->shutdown();
        refuse(std::move(record), "log_aggregation backend \"" + name +
                                      "\" is provided twice; the second is " + path);
        return false;
      }
    }
  }

  for (auto& [kind, backend] : backends) {
    if (!backend) continue;
    record.backends.push_back(kind + "/" + backend->backend_name());
    backends_.emplace_back(backend->backend_name(), keep_loaded(backend, library, plugin));
  }
  for (auto& tool : new_tools) {
    record.tools.push_back(tool.full_name);
    tools_.push_back(std::move(tool));
  }
  std::sort(tools_.begin(), tools_.end(),
            [](const CatalogTool& a, const CatalogTool& b) { return a.full_name < b.full_name; });
  record.loaded = true;
  spdlog::info("plugin loaded: {} {} from {} ({} tools, {} backends)", record.name,
               record.version, path, record.tools.size(), record.backends.size());
  records_.push_back(std::move(record));
  loaded_.push_back(std::make_shared<LoadedPlugin>(LoadedPlugin{library, plugin, path}));
  ++generation_;
  return true;
}

std::vector<PluginRecord> Registry::plugins() const {
  std::lock_guard lock(mutex_);
  return records_;
}

std::shared_ptr<LogAggregationProtocol> Registry::log_aggregation() const {
  std::lock_guard lock(mutex_);
  for (const auto& [name, backend] : backends_) {
    if (name == options_.log_aggregation_backend) return guard(backend);
  }
  return nullptr;
}

std::vector<std::string> Registry::backend_names() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> names;
  for (const auto& [name, backend] : backends_) names.push_back(name);
  return names;
}

std::vector<CatalogTool> Registry::tools() const {
  std::lock_guard lock(mutex_);
  return tools_;
}

std::optional<CatalogTool> Registry::find_tool(const std::string& full_name) const {
  std::lock_guard lock(mutex_);
  for (const auto& tool : tools_) {
    if (tool.full_name == full_name) return tool;
  }
  return std::nullopt;
}

bool Registry::has_tool(const std::string& full_name) const {
  std::lock_guard lock(mutex_);
  return std::any_of(tools_.begin(), tools_.end(),
                     [&](const CatalogTool& tool) { return tool.full_name == full_name; });
}

Result<nlohmann::json> Registry::call_tool(const std::string& full_name,
                                           const nlohmann::json& arguments) {
  // Only what the call needs is copied out of the catalog, not the tool's schemas.
  decltype(CatalogTool::provider) provider;
  std::string name;
  {
    std::lock_guard lock(mutex_);
    for (const auto& tool : tools_) {
      if (tool.full_name == full_name) {
        provider = tool.provider;
        name = tool.spec.name;
        break;
      }
    }
  }
  if (!provider) {
    return not_found("tool.unknown", "unknown tool \"" + full_name +
                                         "\"; list the tools with tools/list or "
                                         "`sample_host plugins`");
  }
  try {
    return provider->call(name, arguments);
  } catch (const std::exception& e) {
    return internal_error("plugin.exception",
                          "tool " + full_name + " threw: " + std::string(e.what()));
  } catch (...) {
    return internal_error("plugin.exception", "tool " + full_name + " threw a non-standard exception");
  }
}

void Registry::shutdown() {
  std::vector<std::shared_ptr<LoadedPlugin>> plugins;
  {
    std::lock_guard lock(mutex_);
    if (shut_down_) return;
    shut_down_ = true;
    plugins = loaded_;
  }
  // Reverse load order: tool plugins that use a backend stop before it.
  for (auto it = plugins.rbegin(); it != plugins.rend(); ++it) {
    try {
      (*it)->plugin->shutdown();
    } catch (const std::exception& e) {
      spdlog::error("plugin {} threw during shutdown: {}", (*it)->file, e.what());
    }
  }
  std::lock_guard lock(mutex_);
  tools_.clear();
  backends_.clear();
  loaded_.clear();
}

}  // namespace lognurse::registry
