// The parser corpus (parser_corpus.txt): queries whose accept/reject verdict
// is checked twice, against Loki's documented behaviour for this parser and
// against Grafana's own LogQL grammar (@grafana/lezer-logql, run with Node.js
// from tests/clients) for the grammar. The queries on which the two disagree
// carry a note saying which way and why; everywhere else they must agree.

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "lognurse/logql/logql.hpp"

namespace {

struct CorpusEntry {
  int line = 0;
  bool loki_accepts = false;
  std::string note;
  std::string query;
};

std::string source_dir() { return LOGNURSE_SOURCE_DIR; }

std::vector<CorpusEntry> load_corpus() {
  std::ifstream in(source_dir() + "/tests/logql/parser_corpus.txt");
  REQUIRE(in.good());
  std::vector<CorpusEntry> entries;
  std::string text;
  int number = 0;
  while (std::getline(in, text)) {
    ++number;
    if (text.empty() || text[0] == '#') continue;
    std::vector<std::string> fields;
    std::size_t start = 0;
    for (std::size_t tab = text.find('\t'); tab != std::string::npos;
         tab = text.find('\t', start)) {
      fields.push_back(text.substr(start, tab - start));
      start = tab + 1;
    }
    fields.push_back(text.substr(start));
    REQUIRE((fields.size() == 2 || fields.size() == 3));
    REQUIRE((fields[0] == "ok" || fields[0] == "error"));
    CorpusEntry entry;
    entry.line = number;
    entry.loki_accepts = fields[0] == "ok";
    if (fields.size() == 3) entry.note = fields[1];
    entry.query = fields.back();
    entries.push_back(std::move(entry));
  }
  return entries;
}

/// The grammar's verdict on every corpus query, in order, from the Node.js script.
std::vector<std::string> grammar_verdicts() {
  std::string clients = source_dir() + "/tests/clients";
  std::string package = clients + "/node_modules/@grafana/lezer-logql/package.json";
  INFO("the grammar is missing: run scripts/install-test-clients.sh");
  REQUIRE(std::filesystem::exists(package));
  std::string command = "node '" + source_dir() + "/tests/logql/lezer_verdicts.mjs' '" + clients +
                        "' '" + source_dir() + "/tests/logql/parser_corpus.txt'";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  int status = pclose(pipe);
  REQUIRE(status == 0);
  std::vector<std::string> verdicts;
  std::size_t start = 0;
  for (std::size_t end = output.find('\n'); end != std::string::npos;
       end = output.find('\n', start)) {
    verdicts.push_back(output.substr(start, end - start));
    start = end + 1;
  }
  return verdicts;
}

}  // namespace

TEST_CASE("the parser corpus holds at least 500 queries, valid and invalid") {
  auto corpus = load_corpus();
  std::size_t valid = 0;
  for (const auto& entry : corpus) valid += entry.loki_accepts ? 1 : 0;
  CHECK(corpus.size() >= 500);
  CHECK(valid >= 400);
  CHECK(corpus.size() - valid >= 80);
}

TEST_CASE("the parser accepts and refuses the corpus queries as Loki does") {
  for (const auto& entry : load_corpus()) {
    auto status = lognurse::logql::validate(entry.query);
    INFO("parser_corpus.txt:" << entry.line << " " << entry.query
                              << (status.ok() ? "" : "\nerror: " + status.error().message));
    CHECK(status.ok() == entry.loki_accepts);
    if (!status.ok()) {
      CHECK(status.error().code == "logql.parse_error");
      CHECK(status.error().message.rfind("parse error at line ", 0) == 0);
    }
  }
}

TEST_CASE("Grafana's LogQL grammar agrees with Loki on the corpus except on the listed queries") {
  auto corpus = load_corpus();
  auto verdicts = grammar_verdicts();
  REQUIRE(verdicts.size() == corpus.size());
  for (std::size_t i = 0; i < corpus.size(); ++i) {
    const auto& entry = corpus[i];
    bool grammar_accepts = entry.loki_accepts;
    if (entry.note.rfind("grammar accepts: ", 0) == 0) grammar_accepts = true;
    if (entry.note.rfind("grammar rejects: ", 0) == 0) grammar_accepts = false;
    INFO("parser_corpus.txt:" << entry.line << " " << entry.query << " (" << entry.note << ")");
    CHECK(verdicts[i] == (grammar_accepts ? "accept" : "reject"));
  }
}
