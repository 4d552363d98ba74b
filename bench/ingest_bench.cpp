// End-to-end ingest benchmark: the real sample_host binary with the embedded
// store on 127.0.0.1, fed Loki pushes of 1000 lines of 100 bytes over
// keep-alive HTTP connections for a fixed time. Reported beside a baseline
// measured in the same run: the same bytes written to a file with one fsync
// per batch. Also reports the host's resident memory during and after the run.
//
// usage: ingest_bench [--seconds S] [--clients N] [--format protobuf|json]
//                     [--batch LINES] [--durability process|fsync]
// Prints a Markdown table to stdout.

#include <fcntl.h>
#include <snappy.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "process.hpp"

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kLineBytes = 100;

struct Options {
  double seconds = 10;
  int clients = 2;
  std::string format = "protobuf";
  std::size_t batch = 1000;
  std::string durability = "process";
};

void varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out += static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  out += static_cast<char>(value);
}

void field(std::string& out, int number, const std::string& payload) {
  varint(out, static_cast<std::uint64_t>(number) << 3 | 2);
  varint(out, payload.size());
  out += payload;
}

/// A 100-byte line that differs from every other line of the run.
std::string make_line(std::uint64_t sequence) {
  char head[64];
  const int n = std::snprintf(head, sizeof(head), "level=info seq=%012llu msg=\"",
                              static_cast<unsigned long long>(sequence));
  std::string line(head, static_cast<std::size_t>(n));
  line.append(kLineBytes - line.size() - 1, 'x');
  line += '"';
  return line;
}

/// One push body of `batch` lines for `stream`, in the chosen format, and the raw line bytes.
std::pair<std::string, std::string> make_push(const Options& options, int stream,
                                              std::uint64_t first_sequence, std::int64_t first_ns) {
  std::string raw;
  raw.reserve(options.batch * (kLineBytes + 1));
  const std::string labels =
      "{service_name=\"bench\", stream=\"s" + std::to_string(stream) + "-r000000\"}";
  if (options.format == "json") {
    std::string body = "{\"streams\":[{\"stream\":{\"service_name\":\"bench\",\"stream\":\"s" +
                       std::to_string(stream) + "-r000000\"},\"values\":[";
    for (std::size_t i = 0; i < options.batch; ++i) {
      const std::string line = make_line(first_sequence + i);
      raw += line;
      raw += '\n';
      if (i) body += ',';
      body += "[\"" + std::to_string(first_ns + static_cast<std::int64_t>(i)) + "\",\"" + [&] {
        std::string escaped;
        for (char c : line) {
          if (c == '"' || c == '\\') escaped += '\\';
          escaped += c;
        }
        return escaped;
      }() + "\"]";
    }
    body += "]}]}";
    return {body, raw};
  }
  std::string stream_message;
  field(stream_message, 1, labels);
  for (std::size_t i = 0; i < options.batch; ++i) {
    const std::string line = make_line(first_sequence + i);
    raw += line;
    raw += '\n';
    const std::int64_t ns = first_ns + static_cast<std::int64_t>(i);
    std::string timestamp;
    varint(timestamp, 1 << 3);
    varint(timestamp, static_cast<std::uint64_t>(ns / 1'000'000'000));
    varint(timestamp, 2 << 3);
    varint(timestamp, static_cast<std::uint64_t>(ns % 1'000'000'000));
    std::string entry;
    field(entry, 1, timestamp);
    field(entry, 2, line);
    field(stream_message, 2, entry);
  }
  std::string request;
  field(request, 1, stream_message);
  return {request, raw};
}

/// The body of push number `n`: template n % kPrepared with the stream label's round digits
/// set to n / kPrepared, so that no push repeats an earlier one; snappy-compressed for
/// protobuf.
std::string body_for(const Options& options, std::string body, std::uint64_t round) {
  const auto at = body.find("-r000000");
  char digits[8];
  std::snprintf(digits, sizeof(digits), "%06llu", static_cast<unsigned long long>(round % 1000000));
  body.replace(at + 2, 6, digits);
  if (options.format == "json") return body;
  std::string compressed;
  snappy::Compress(body.data(), body.size(), &compressed);
  return compressed;
}

std::uint64_t rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

/// CPU seconds (user + system) the process has used so far.
double cpu_seconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold spaces.
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    const std::string value = argv[i + 1];
    if (key == "--seconds")
      options.seconds = std::stod(value);
    else if (key == "--clients")
      options.clients = std::stoi(value);
    else if (key == "--format")
      options.format = value;
    else if (key == "--batch")
      options.batch = std::stoul(value);
    else if (key == "--durability")
      options.durability = value;
    else {
      std::cerr << "unknown option " << key << "\n";
      return 2;
    }
  }
  if (options.seconds <= 0 || options.seconds > 300 || options.clients < 1 ||
      options.clients > 64 || options.batch < 1 || options.batch > 100000) {
    std::cerr << "options out of range\n";
    return 2;
  }

  lognurse::test::TempDir dir;
  const std::string config = dir.file("bench.yaml");
  {
    std::ofstream out(config);
    out << "server:\n  max_body_bytes: 67108864\nlog_aggregation:\n  backend: local_store\n"
        << "logging:\n  level: warn\n"
        << "plugins:\n  local_store:\n    durability: " << options.durability << "\n"
        << "    limits:\n      ingestion_rate_mb: 100000\n"
        << "      ingestion_rate_burst_size_mb: 100000\n";
  }
  lognurse::test::HostServer host({"--data-dir", dir.path()}, {"--config", config});
  const std::uint64_t rss_idle = rss_kib(host.pid());

  // Templates are built before the clock starts; a push only patches and compresses one.
  const std::int64_t base_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count() -
                               300LL * 1'000'000'000;
  constexpr int kPrepared = 64;
  std::vector<std::pair<std::string, std::string>> bodies;
  for (int i = 0; i < kPrepared; ++i) {
    bodies.push_back(make_push(
        options, i % 4, static_cast<std::uint64_t>(i) * options.batch,
        base_ns + static_cast<std::int64_t>(i) * static_cast<std::int64_t>(options.batch)));
  }
  const char* content_type =
      options.format == "json" ? "application/json" : "application/x-protobuf";

  std::atomic<std::uint64_t> sequence{0};
  std::atomic<std::uint64_t> pushes{0};
  std::atomic<std::uint64_t> failures{0};
  std::atomic<std::uint64_t> rss_peak{0};
  std::atomic<bool> stop{false};
  const double cpu_before = cpu_seconds(host.pid());
  const auto start = Clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < options.clients; ++c) {
    clients.emplace_back([&] {
      httplib::Client client("127.0.0.1", host.port());
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      client.set_read_timeout(30, 0);
      while (!stop.load()) {
        const std::uint64_t n = sequence.fetch_add(1);
        const std::string body = body_for(options, bodies[n % kPrepared].first, n / kPrepared);
        auto response = client.Post("/loki/api/v1/push", body, content_type);
        if (!response || response->status != 204) {
          failures.fetch_add(1);
          if (failures.load() > 10) stop.store(true);
          continue;
        }
        pushes.fetch_add(1);
      }
    });
  }
  std::thread sampler([&] {
    while (!stop.load()) {
      const auto rss = rss_kib(host.pid());
      if (rss > rss_peak.load()) rss_peak.store(rss);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  while (seconds_since(start) < options.seconds && !stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stop.store(true);
  for (auto& client : clients) client.join();
  sampler.join();
  const double elapsed = seconds_since(start);
  const double host_cpu = cpu_seconds(host.pid()) - cpu_before;
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const std::uint64_t rss_after = rss_kib(host.pid());

  // Baseline: the same number of batches of the same bytes, appended to a file with one
  // fsync per batch.
  const std::uint64_t batches = pushes.load();
  const std::string file = dir.file("baseline.log");
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    std::perror("open baseline file");
    return 1;
  }
  const auto file_start = Clock::now();
  for (std::uint64_t b = 0; b < batches; ++b) {
    const std::string& raw = bodies[b % kPrepared].second;
    if (::write(fd, raw.data(), raw.size()) != static_cast<ssize_t>(raw.size()) ||
        ::fsync(fd) != 0) {
      std::perror("write baseline file");
      return 1;
    }
  }
  const double file_elapsed = seconds_since(file_start);
  ::close(fd);

  const double lines = static_cast<double>(batches * options.batch);
  const double rate = lines / elapsed;
  const double file_rate = lines / file_elapsed;
  std::printf("| measure | value |\n|---|---|\n");
  std::printf("| format | %s, %zu lines of %zu bytes per push, %d keep-alive clients |\n",
              options.format.c_str(), options.batch, kLineBytes, options.clients);
  std::printf("| pushes | %llu in %.2f s (%llu failed) |\n",
              static_cast<unsigned long long>(batches), elapsed,
              static_cast<unsigned long long>(failures.load()));
  std::printf("| sample_host ingest | %.0f lines/s (%.1f MB/s of lines) |\n", rate,
              rate * kLineBytes / 1e6);
  std::printf("| sample_host CPU | %.2f s over %.2f s (%.2f cores): %.0f lines per CPU second |\n",
              host_cpu, elapsed, host_cpu / elapsed, lines / host_cpu);
  std::printf("| baseline: file + fsync per batch | %.0f lines/s (%.1f MB/s) in %.2f s |\n",
              file_rate, file_rate * kLineBytes / 1e6, file_elapsed);
  std::printf("| ratio ingest / baseline | %.3f |\n", rate / file_rate);
  std::printf("| host RSS idle / peak during / after | %.1f / %.1f / %.1f MiB |\n",
              static_cast<double>(rss_idle) / 1024, static_cast<double>(rss_peak.load()) / 1024,
              static_cast<double>(rss_after) / 1024);
  return failures.load() > 10 ? 1 : 0;
}
