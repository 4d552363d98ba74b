#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "lognurse/logql/literal_finder.hpp"

using lognurse::logql::LiteralFinder;

TEST_CASE("the literal finder finds what std::string_view::find finds", "[literal_finder]") {
  // Short alphabets make many near misses; texts longer than the 16- and 32-byte blocks put
  // matches on every position of a block, at the ends of the text and across blocks. Both
  // widths are checked, whichever the processor would choose.
  std::mt19937 random(1205);
  const std::string alphabet = "aab=\" \xff";
  for (int n = 0; n < 20000; ++n) {
    std::string needle;
    const std::size_t needle_size = random() % 6;
    for (std::size_t i = 0; i < needle_size; ++i) needle += alphabet[random() % alphabet.size()];
    std::string text;
    const std::size_t text_size = random() % 140;
    for (std::size_t i = 0; i < text_size; ++i) text += alphabet[random() % alphabet.size()];
    const std::size_t from = random() % (text_size + 2);
    INFO("needle '" << needle << "' text '" << text << "' from " << from);
    const std::size_t expected =
        from > text.size() ? std::string::npos : std::string_view(text).find(needle, from);
    REQUIRE(LiteralFinder(needle).find(text, from) == expected);
    REQUIRE(LiteralFinder(needle, LiteralFinder::Width::sse2).find(text, from) == expected);
  }
}

TEST_CASE("the literal finder reads no byte past the text", "[literal_finder]") {
  // The text ends where a page might: a copy of exactly its size, searched for a literal
  // whose rarest bytes sit at its end, so that the block loads reach furthest.
  for (const auto width : {LiteralFinder::Width::widest, LiteralFinder::Width::sse2}) {
    const LiteralFinder finder("needle{}", width);
    for (std::size_t size = 0; size < 100; ++size) {
      const std::string text(size, 'n');
      CHECK(finder.find(text) == LiteralFinder::npos);
      const std::string hit = text + "needle{}";
      CHECK(finder.find(hit) == size);
    }
  }
}
