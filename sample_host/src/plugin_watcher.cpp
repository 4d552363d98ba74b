#include "plugin_watcher.hpp"

#include <filesystem>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "rest_tools.hpp"

namespace lognurse::host {

namespace fs = std::filesystem;
using nlohmann::json;

PluginWatcher::PluginWatcher(registry::Registry& registry, std::chrono::milliseconds interval)
    : registry_(registry), interval_(interval) {
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
      lock.unlock();
      poll();
      lock.lock();
    }
  });
}

PluginWatcher::~PluginWatcher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void PluginWatcher::poll() {
  std::map<std::string, bool> known;
  for (const auto& record : registry_.plugins()) known[record.file] = true;

  std::map<std::string, std::pair<std::uintmax_t, std::int64_t>> seen;
  for (const auto& dir : registry_.plugin_dirs()) {
    std::error_code ec;
    for (const auto& item : fs::directory_iterator(dir, ec)) {
      if (item.path().extension() != ".so") continue;
      const std::string file = fs::absolute(item.path()).string();
      if (known.count(file)) continue;
      std::error_code stat_ec;
      const auto size = fs::file_size(item.path(), stat_ec);
      const auto mtime = fs::last_write_time(item.path(), stat_ec);
      if (stat_ec) continue;
      seen[file] = {size, mtime.time_since_epoch().count()};
    }
  }
  for (const auto& [file, state] : seen) {
    const auto before = pending_.find(file);
    if (before != pending_.end() && before->second == state) {
      spdlog::info("new plugin file {} in a watched directory; loading it", file);
      registry_.load_file(file);
    }
  }
  pending_ = std::move(seen);
}

void install_late_tool_routes(httplib::Server& http, registry::Registry& registry) {
  auto handler = [&registry](const httplib::Request& req, httplib::Response& res) {
    std::string tool_name;
    std::string allowed;  // the method the tool at this path takes, when it is another
    for (const auto& tool : registry.tools()) {
      if (tool.spec.rest_path != req.path) continue;
      if (tool.spec.http_method == req.method) {
        tool_name = tool.full_name;
      } else {
        allowed = tool.spec.http_method;
      }
    }
    if (tool_name.empty()) {
      send_rest_error(res, !allowed.empty()
                               ? Error{ErrorKind::invalid_argument, "http.method_not_allowed",
                                       req.method + " " + req.path + " is not a route; the tool "
                                       "there takes " + allowed}
                               : not_found("http.unknown_route",
                                           "no route " + req.method + " " + req.path +
                                               "; /api/openapi.json lists the tool routes"));
      if (!allowed.empty()) {
        res.status = 405;
        res.set_header("Allow", allowed);  // RFC 9110, section 15.5.6
      }
      return;
    }
    answer_tool_call(registry, tool_name, req, res);
  };
  http.Get(R"(/api/.+)", handler);
  http.Post(R"(/api/.+)", handler);
  // Methods no tool takes: 405 with the method the tool at the path takes, else 404.
  http.Put(R"(/api/.+)", handler);
  http.Delete(R"(/api/.+)", handler);
  http.Patch(R"(/api/.+)", handler);
}

}  // namespace lognurse::host
