// The template engine through its own interface, for what the conformance
// suite cannot show in one line: newlines, scoping, limits and the exact
// messages of execution errors.

#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "lognurse/logql/template.hpp"

namespace {

using lognurse::logql::Template;
using lognurse::logql::TemplateData;

class MapData : public TemplateData {
public:
  explicit MapData(std::initializer_list<std::pair<const std::string, std::string>> labels)
      : labels_(labels) {}

  const std::string* label(std::string_view name) const override {
    auto it = labels_.find(std::string(name));
    return it != labels_.end() ? &it->second : nullptr;
  }
  std::string_view line() const override { return line_; }
  std::int64_t timestamp_ns() const override { return 0; }
  void each_label(
      const std::function<void(std::string_view, std::string_view)>& visit) const override {
    // Reverse order, so that a range over the labels has to sort them itself.
    for (auto it = labels_.rbegin(); it != labels_.rend(); ++it) visit(it->first, it->second);
  }

private:
  std::map<std::string, std::string> labels_;
  std::string line_ = "the line";
};

/// Renders `text` over `data`; fails the test when the template does not compile.
std::string render(const std::string& text, const MapData& data, bool expect_ok = true) {
  std::string error;
  auto compiled = Template::compile(text, error);
  INFO(text << ": " << error);
  REQUIRE(compiled != nullptr);
  std::string out;
  bool ok = compiled->render(data, out, error);
  CHECK(ok == expect_ok);
  return ok ? out : "error: " + error;
}

std::string compile_error(const std::string& text) {
  std::string error;
  auto compiled = Template::compile(text, error);
  CHECK(compiled == nullptr);
  return error;
}

}  // namespace

TEST_CASE("println separates every operand and ends with a newline") {
  MapData data({{"a", "x"}});
  CHECK(render(R"({{ println "a" 1 .a }})", data) == "a 1 x\n");
}

TEST_CASE("range over the labels visits them in name order whatever order they come in") {
  MapData data({{"b", "2"}, {"a", "1"}, {"c", "3"}});
  CHECK(render("{{ range $k, $v := . }}{{ $k }}{{ $v }}{{ end }}", data) == "a1b2c3");
}

TEST_CASE("a variable declared in a block ends with the block") {
  MapData data({{"a", "x"}});
  CHECK(compile_error("{{ if .a }}{{ $v := 1 }}{{ end }}{{ $v }}") ==
        "undefined variable \"$v\"");
  CHECK(compile_error("{{ $v = 1 }}") == "undefined variable \"$v\"");
  CHECK(render("{{ $v := 1 }}{{ if .a }}{{ $v := 2 }}{{ $v }}{{ end }}{{ $v }}", data) == "21");
}

TEST_CASE("each iteration of range starts with fresh variables of its body") {
  MapData data{};
  CHECK(render(R"({{ range fromJson "[1,2]" }}{{ $seen := . }}{{ $seen }}{{ end }})", data) ==
        "12");
}

TEST_CASE("break leaves only the innermost range") {
  MapData data{};
  CHECK(render(R"({{ range $a := fromJson "[1,2]" }}{{ range fromJson "[7,8]" }})"
               R"({{ . }}{{ break }}{{ end }}{{ $a }};{{ end }})",
               data) == "71;72;");
}

TEST_CASE("break and continue in the else branch of a range are refused") {
  CHECK(compile_error(R"({{ range fromJson "[]" }}{{ else }}{{ break }}{{ end }})") ==
        "{{break}} outside {{range}}");
  CHECK(compile_error(R"({{ range fromJson "[]" }}{{ else if .a }}{{ end }})") ==
        "unexpected \"if\" after else");
}

TEST_CASE("a field of a value that is not a map is an execution error naming its type") {
  MapData data({{"level", "info"}});
  CHECK(render("{{ .level.name }}", data, false) ==
        "error: can't evaluate field name in type string");
  CHECK(render(R"({{ $l := fromJson "[1]" }}{{ $l.x }})", data, false) ==
        "error: can't evaluate field x in type []interface {}");
  CHECK(render(R"({{ range 3 }}{{ end }})", data, false) == "error: range can't iterate over 3");
}

TEST_CASE("closing braces inside strings and comments do not close an action") {
  MapData data{};
  CHECK(render(R"({{ "}}" }}|{{/* }} */}}|{{ `}}` }})", data) == "}}||}}");
}

TEST_CASE("fromJson gives a null beyond its nesting limit") {
  MapData data{};
  std::string deep(300, '[');
  deep += std::string(300, ']');
  CHECK(render("[{{ fromJson .doc }}]", MapData({{"doc", deep}})) == "[]");
  std::string shallow = "[[[1]]]";
  CHECK(render("{{ fromJson .doc }}", MapData({{"doc", shallow}})) == "[[[1]]]");
}

TEST_CASE("fromJson treats a number out of range as text that is not JSON") {
  CHECK(render("[{{ fromJson .doc }}]", MapData({{"doc", "[1e999]"}})) == "[]");
}

TEST_CASE("count compiles a regex given at run time and reports a bad one") {
  CHECK(render("{{ count .re .s }}", MapData({{"re", "o+"}, {"s", "foo boo"}})) == "2");
  std::string out = render("{{ count .re .s }}", MapData({{"re", "("}, {"s", "x"}}), false);
  CHECK(out.rfind("error: count: invalid regular expression", 0) == 0);
}

TEST_CASE("a template function named as an argument is called with no arguments, so one that "
          "needs some is refused when compiled") {
  CHECK(compile_error(R"({{ regexReplaceAll regexReplaceAll "a" "b" }})") ==
        "wrong number of arguments for regexReplaceAll: got 0");
  CHECK(compile_error(R"({{ printf "%s" upper }})") ==
        "wrong number of arguments for upper: got 0");
  std::string error;
  CHECK(Template::compile(R"({{ regexReplaceAll "a" "b" "c" }})", error) != nullptr);
}

TEST_CASE("an integer argument outside the 64-bit range is refused, not converted") {
  // A label's number goes through a double: 1e35 is whole but beyond long long, and so is
  // an infinity; converting either to an integer would be undefined behaviour.
  for (const char* number : {"1e35", "-1e35", "9223372036854775808", "1e999"}) {
    INFO(number);
    const std::string out =
        render("{{ trunc .n \"abc\" }}", MapData({{"n", number}}), false);
    CHECK(out == std::string("error: trunc: expected an integer, got \"") + number + "\"");
  }
  CHECK(render("{{ trunc .n \"abcdef\" }}", MapData({{"n", "-9223372036854775808"}})) ==
        "abcdef");
  CHECK(render("{{ substr 1 .n \"abcdef\" }}", MapData({{"n", "1e20"}}), false) ==
        "error: substr: expected an integer, got \"1e20\"");
}

TEST_CASE("blocks nested too deeply to execute safely are refused when the template compiles") {
  auto nested = [](const std::string& open, int depth) {
    std::string text;
    for (int i = 0; i < depth; ++i) text += open;
    text += "x";
    for (int i = 0; i < depth; ++i) text += "{{end}}";
    return text;
  };
  CHECK(render(nested("{{if 1}}", 256), MapData({})) == "x");
  const std::string refusal =
      "template blocks ({{if}}, {{else if}}, {{with}}, {{range}}) nested more than 256 levels "
      "deep";
  CHECK(compile_error(nested("{{if 1}}", 257)) == refusal);
  CHECK(compile_error(nested("{{with 1}}", 257)) == refusal);
  CHECK(compile_error(nested("{{range $v := .}}", 257)) == refusal);
  // Thousands of blocks once exhausted the stack of whatever thread ran the query.
  CHECK(compile_error(nested("{{if 1}}", 30000)) == refusal);
  // An {{else if}} opens a block inside the else branch: a chain counts as deep as it is long.
  std::string chain = "{{if 0}}a";
  for (int i = 0; i < 300; ++i) chain += "{{else if 0}}b";
  CHECK(compile_error(chain + "{{end}}") == refusal);
}

TEST_CASE("printf writes widths and precisions of any size Go allows, and refuses larger ones") {
  const MapData data({{"a", "x"}});
  CHECK(render(R"({{ printf "%0600d" 1 }})", data) == std::string(599, '0') + "1");
  CHECK(render(R"({{ printf "%-600s|" "a" }})", data) == "a" + std::string(599, ' ') + "|");
  const std::string long_text(2000, 'y');
  CHECK(render(R"({{ printf "%5s" .b }})", MapData({{"b", long_text}})) == long_text);
  CHECK(render(R"({{ printf "%.700f" 1.0 }})", data) == "1." + std::string(700, '0'));
  // Over a million, as Go's fmt: the width or precision is refused and left out.
  CHECK(render(R"({{ printf "%.999999999f" 1.0 }})", data) == "%!(BADPREC)1.000000");
  CHECK(render(R"({{ printf "%0999999999d" 1 }})", data) == "%!(BADWIDTH)1");
  CHECK(render(R"({{ printf "%1000001s" "a" }})", data) == "%!(BADWIDTH)a");
}

TEST_CASE("alignLeft and alignRight count characters, as Loki does, and leave a negative width") {
  const MapData data({{"s", "h\xC3\xA9llo"}});  // "héllo": six bytes, five characters
  CHECK(render("[{{ alignLeft 2 .s }}]", data) == "[h\xC3\xA9]");
  CHECK(render("[{{ alignRight 4 .s }}]", data) == "[\xC3\xA9llo]");
  CHECK(render("[{{ alignLeft 7 .s }}]", data) == "[h\xC3\xA9llo  ]");
  CHECK(render("[{{ alignRight 6 .s }}]", data) == "[ h\xC3\xA9llo]");
  CHECK(render("[{{ alignLeft -3 .s }}]", data) == "[h\xC3\xA9llo]");
}

TEST_CASE("functions that grow text by a number refuse results a template value cannot hold") {
  const MapData data({{"a", "x"}});
  // Once an allocation of 8 EB, found by logql_fuzz.
  CHECK(render(R"({{ alignLeft 9000000000000000000 "hi" }})", data, false) ==
        "error: alignLeft: width 9000000000000000000 is more than the 16777216 bytes a template "
        "value may hold");
  CHECK(render(R"({{ alignRight 16777217 "hi" }})", data, false) ==
        "error: alignRight: width 16777217 is more than the 16777216 bytes a template value may "
        "hold");
  CHECK(render(R"({{ alignLeft 1000 "hi" }})", data).size() == 1000);
  CHECK(render(R"({{ indent 9000000000 "a" }})", data, false) ==
        "error: indent: 9000000000 spaces before each of 1 lines are more than the 16777216 "
        "bytes a template value may hold");
  CHECK(render("{{ nindent 5000000 \"a\\nb\\nc\\nd\" }}", data, false) ==
        "error: nindent: 5000000 spaces before each of 4 lines are more than the 16777216 "
        "bytes a template value may hold");
  CHECK(render(R"({{ repeat 9000000 "ab" }})", data, false) ==
        "error: repeat: 9000000 copies of 2 bytes are more than the 16777216 a template value "
        "may hold");
  CHECK(render(R"({{ repeat 3 "ab" }})", data) == "ababab");
  // Nothing to repeat: empty at once, not after 2^63 turns of a loop.
  CHECK(render(R"({{ repeat 9000000000000000000 "" }})", data).empty());
  CHECK(render(R"({{ repeat -5 "ab" }})", data).empty());
  CHECK(render(R"({{ repeat 8388608 "ab" }})", data).size() == 16777216);
}

TEST_CASE("a value doubled in a loop stops at the bound instead of taking all memory") {
  const MapData data({{"a", "x"}});
  // Each pass doubles $s: forty passes would be a terabyte.
  const std::string doubling =
      R"({{ $s := repeat 1048576 "a" }}{{ range $i, $v := fromJson "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]" }}{{ $s = printf "%s%s" $s $s }}{{ end }}{{ len $s }})";
  CHECK(render(doubling, data, false) ==
        "error: printf: the result is 33554432 bytes, more than the 16777216 a template value "
        "may hold");
  // Printing a large value many times is bounded by the output's own limit.
  std::string many = R"({{ $s := repeat 4194304 "a" }})";
  for (int i = 0; i < 5; ++i) many += "{{ $s }}";
  CHECK(render(many, data, false) ==
        "error: the template's output is 20971520 bytes, more than the 16777216 it may produce");
}
