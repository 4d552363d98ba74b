#include "lognurse/logql/template.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <vector>

#include "lognurse/host_api/time.hpp"
#include "lognurse/logql/lexer.hpp"

namespace lognurse::logql {
namespace {

enum class Function {
  none,
  to_upper,
  to_lower,
  title,
  trim,
  trim_prefix,
  trim_suffix,
  trunc,
  replace,
  substr,
  default_value,
  printf_,
  regex_replace_all,
  regex_replace_all_literal,
  contains,
  has_prefix,
  has_suffix,
  len,
  eq,
  ne,
  lt,
  le,
  gt,
  ge,
  and_,
  or_,
  not_,
  line,
  timestamp,
};

struct FunctionInfo {
  const char* name;
  Function function;
  int min_args;
  int max_args;  ///< -1: any number
};

constexpr FunctionInfo kFunctions[] = {
    {"ToUpper", Function::to_upper, 1, 1},
    {"upper", Function::to_upper, 1, 1},
    {"ToLower", Function::to_lower, 1, 1},
    {"lower", Function::to_lower, 1, 1},
    {"title", Function::title, 1, 1},
    {"Title", Function::title, 1, 1},
    {"trim", Function::trim, 1, 1},
    {"TrimSpace", Function::trim, 1, 1},
    {"trimPrefix", Function::trim_prefix, 2, 2},
    {"TrimPrefix", Function::trim_prefix, 2, 2},
    {"trimSuffix", Function::trim_suffix, 2, 2},
    {"TrimSuffix", Function::trim_suffix, 2, 2},
    {"trunc", Function::trunc, 2, 2},
    {"replace", Function::replace, 3, 3},
    {"substr", Function::substr, 3, 3},
    {"default", Function::default_value, 2, 2},
    {"printf", Function::printf_, 1, -1},
    {"regexReplaceAll", Function::regex_replace_all, 3, 3},
    {"regexReplaceAllLiteral", Function::regex_replace_all_literal, 3, 3},
    {"contains", Function::contains, 2, 2},
    {"hasPrefix", Function::has_prefix, 2, 2},
    {"hasSuffix", Function::has_suffix, 2, 2},
    {"len", Function::len, 1, 1},
    {"eq", Function::eq, 2, -1},
    {"ne", Function::ne, 2, 2},
    {"lt", Function::lt, 2, 2},
    {"le", Function::le, 2, 2},
    {"gt", Function::gt, 2, 2},
    {"ge", Function::ge, 2, 2},
    {"and", Function::and_, 1, -1},
    {"or", Function::or_, 1, -1},
    {"not", Function::not_, 1, 1},
    {"__line__", Function::line, 0, 0},
    {"__timestamp__", Function::timestamp, 0, 0},
};

const FunctionInfo* find_function(std::string_view name) {
  for (const auto& info : kFunctions) {
    if (name == info.name) return &info;
  }
  return nullptr;
}

/// A runtime value: templates see strings (labels), numbers (literals, len)
/// and booleans (comparisons).
struct Value {
  enum class Kind { string, number, boolean } kind = Kind::string;
  std::string text;
  double number = 0;
  bool boolean = false;

  static Value of_string(std::string s) { return {Kind::string, std::move(s), 0, false}; }
  static Value of_number(double n) { return {Kind::number, {}, n, false}; }
  static Value of_bool(bool b) { return {Kind::boolean, {}, 0, b}; }

  bool truthy() const {
    switch (kind) {
      case Kind::string: return !text.empty();
      case Kind::number: return number != 0;
      case Kind::boolean: return boolean;
    }
    return false;
  }

  std::string to_string() const {
    switch (kind) {
      case Kind::string: return text;
      case Kind::number: return format_number(number);
      case Kind::boolean: return boolean ? "true" : "false";
    }
    return {};
  }

  bool to_number(double& out) const {
    if (kind == Kind::number) {
      out = number;
      return true;
    }
    if (kind != Kind::string || text.empty()) return false;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && ptr == text.data() + text.size();
  }
};

struct Pipeline;

struct Argument {
  enum class Kind { field, dot, literal, function, pipeline } kind = Kind::literal;
  std::string name;  ///< the field name of .field
  Value literal;
  const FunctionInfo* function = nullptr;
  std::shared_ptr<Pipeline> pipeline;
};

struct Command {
  std::vector<Argument> args;
  std::shared_ptr<RE2> regex;  ///< precompiled first argument of regexReplaceAll*
};

struct Pipeline {
  std::vector<Command> commands;
};

}  // namespace

struct TemplateNode {
  enum class Kind { list, text, action, branch } kind = Kind::list;
  std::string text;
  Pipeline pipeline;
  std::vector<TemplateNode> body;
  std::vector<TemplateNode> else_body;
};

namespace {

std::string trim_space(std::string_view s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

/// Tokens inside {{ }}.
struct ActionToken {
  enum class Kind { identifier, field, dot, string, number, pipe, lparen, rparen } kind;
  std::string text;
  double number = 0;
};

bool lex_action(std::string_view body, std::vector<ActionToken>& out, std::string& error) {
  std::size_t i = 0;
  while (i < body.size()) {
    char c = body[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '|') {
      out.push_back({ActionToken::Kind::pipe, "|"});
      ++i;
    } else if (c == '(') {
      out.push_back({ActionToken::Kind::lparen, "("});
      ++i;
    } else if (c == ')') {
      out.push_back({ActionToken::Kind::rparen, ")"});
      ++i;
    } else if (c == '"' || c == '`') {
      // Reuse the LogQL lexer's Go string decoding on the literal alone.
      std::size_t end = i + 1;
      while (end < body.size() && body[end] != c) end += (c == '"' && body[end] == '\\') ? 2 : 1;
      if (end >= body.size()) {
        error = "unterminated string in template action";
        return false;
      }
      auto tokens = tokenize(body.substr(i, end + 1 - i));
      if (!tokens.ok()) {
        error = "invalid string in template action";
        return false;
      }
      out.push_back({ActionToken::Kind::string, tokens.value()[0].text});
      i = end + 1;
    } else if (c == '.') {
      std::size_t end = i + 1;
      while (end < body.size() &&
             (std::isalnum(static_cast<unsigned char>(body[end])) || body[end] == '_')) {
        ++end;
      }
      if (end == i + 1) {
        out.push_back({ActionToken::Kind::dot, "."});
      } else {
        out.push_back({ActionToken::Kind::field, std::string(body.substr(i + 1, end - i - 1))});
      }
      i = end;
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '-' && i + 1 < body.size() &&
                std::isdigit(static_cast<unsigned char>(body[i + 1])))) {
      std::size_t end = i + 1;
      while (end < body.size() &&
             (std::isdigit(static_cast<unsigned char>(body[end])) || body[end] == '.')) {
        ++end;
      }
      ActionToken token{ActionToken::Kind::number, std::string(body.substr(i, end - i))};
      std::from_chars(token.text.data(), token.text.data() + token.text.size(), token.number);
      out.push_back(std::move(token));
      i = end;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t end = i + 1;
      while (end < body.size() &&
             (std::isalnum(static_cast<unsigned char>(body[end])) || body[end] == '_')) {
        ++end;
      }
      out.push_back({ActionToken::Kind::identifier, std::string(body.substr(i, end - i))});
      i = end;
    } else {
      error = std::string("unexpected \"") + c + "\" in template action";
      return false;
    }
  }
  return true;
}

class ActionParser {
public:
  ActionParser(const std::vector<ActionToken>& tokens, std::size_t start)
      : tokens_(tokens), pos_(start) {}

  bool parse_pipeline(Pipeline& pipeline, std::string& error, bool nested) {
    while (true) {
      Command command;
      if (!parse_command(command, error)) return false;
      pipeline.commands.push_back(std::move(command));
      if (pos_ < tokens_.size() && tokens_[pos_].kind == ActionToken::Kind::pipe) {
        ++pos_;
        continue;
      }
      break;
    }
    if (nested) {
      if (pos_ >= tokens_.size() || tokens_[pos_].kind != ActionToken::Kind::rparen) {
        error = "missing \")\" in template action";
        return false;
      }
      ++pos_;
    } else if (pos_ < tokens_.size()) {
      error = "unexpected \"" + tokens_[pos_].text + "\" in template action";
      return false;
    }
    return check_arity(pipeline, error);
  }

private:
  bool parse_command(Command& command, std::string& error) {
    while (pos_ < tokens_.size()) {
      const ActionToken& token = tokens_[pos_];
      if (token.kind == ActionToken::Kind::pipe || token.kind == ActionToken::Kind::rparen) break;
      ++pos_;
      Argument arg;
      switch (token.kind) {
        case ActionToken::Kind::field:
          arg.kind = Argument::Kind::field;
          arg.name = token.text;
          break;
        case ActionToken::Kind::dot: arg.kind = Argument::Kind::dot; break;
        case ActionToken::Kind::string: arg.literal = Value::of_string(token.text); break;
        case ActionToken::Kind::number: arg.literal = Value::of_number(token.number); break;
        case ActionToken::Kind::lparen: {
          arg.kind = Argument::Kind::pipeline;
          arg.pipeline = std::make_shared<Pipeline>();
          if (!parse_pipeline(*arg.pipeline, error, true)) return false;
          break;
        }
        case ActionToken::Kind::identifier: {
          if (token.text == "true" || token.text == "false") {
            arg.literal = Value::of_bool(token.text == "true");
            break;
          }
          arg.kind = Argument::Kind::function;
          arg.function = find_function(token.text);
          if (arg.function == nullptr) {
            error = "function \"" + token.text + "\" not defined";
            return false;
          }
          break;
        }
        default: break;
      }
      command.args.push_back(std::move(arg));
    }
    if (command.args.empty()) {
      error = "empty command in template action";
      return false;
    }
    if (command.args.size() > 1 && command.args[0].kind != Argument::Kind::function) {
      error = "can't give arguments to a non-function in template action";
      return false;
    }
    return precompile_regex(command, error);
  }

  static bool precompile_regex(Command& command, std::string& error) {
    const Argument& head = command.args[0];
    if (head.kind != Argument::Kind::function || command.args.size() < 2) return true;
    if (head.function->function != Function::regex_replace_all &&
        head.function->function != Function::regex_replace_all_literal) {
      return true;
    }
    const Argument& pattern = command.args[1];
    if (pattern.kind != Argument::Kind::literal) return true;
    command.regex = std::make_shared<RE2>(pattern.literal.to_string(), RE2::Quiet);
    if (!command.regex->ok()) {
      error = "invalid regular expression in regexReplaceAll: " + command.regex->error();
      return false;
    }
    return true;
  }

  static bool check_arity(const Pipeline& pipeline, std::string& error) {
    for (std::size_t i = 0; i < pipeline.commands.size(); ++i) {
      const Command& command = pipeline.commands[i];
      if (command.args[0].kind != Argument::Kind::function) {
        if (i > 0) {
          error = "a pipeline stage of a template must be a function";
          return false;
        }
        continue;
      }
      const FunctionInfo& info = *command.args[0].function;
      int given = static_cast<int>(command.args.size()) - 1 + (i > 0 ? 1 : 0);
      if (given < info.min_args || (info.max_args >= 0 && given > info.max_args)) {
        error = std::string("wrong number of arguments for ") + info.name + ": got " +
                std::to_string(given);
        return false;
      }
    }
    return true;
  }

  const std::vector<ActionToken>& tokens_;
  std::size_t pos_;
};

/// Expands $1, ${1}, $name and ${name} in a Go regexp replacement template.
void expand_replacement(const RE2& re, std::string_view repl, const re2::StringPiece* groups,
                        int group_count, std::string& out) {
  for (std::size_t i = 0; i < repl.size(); ++i) {
    if (repl[i] != '$' || i + 1 >= repl.size()) {
      out += repl[i];
      continue;
    }
    if (repl[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    std::size_t start = i + 1;
    std::size_t end = start;
    bool braced = repl[start] == '{';
    if (braced) ++start, ++end;
    while (end < repl.size() && (std::isalnum(static_cast<unsigned char>(repl[end])) ||
                                 repl[end] == '_')) {
      ++end;
    }
    if (end == start || (braced && (end >= repl.size() || repl[end] != '}'))) {
      out += '$';
      continue;
    }
    std::string name(repl.substr(start, end - start));
    int index = -1;
    if (std::all_of(name.begin(), name.end(), [](char c) { return std::isdigit(c); })) {
      index = std::atoi(name.c_str());
    } else {
      const auto& named = re.NamedCapturingGroups();
      auto it = named.find(name);
      if (it != named.end()) index = it->second;
    }
    if (index >= 0 && index < group_count) out.append(groups[index].data(), groups[index].size());
    i = braced ? end : end - 1;
  }
}

std::string regex_replace_all(const RE2& re, std::string_view input, std::string_view repl,
                              bool literal) {
  std::string out;
  int group_count = re.NumberOfCapturingGroups() + 1;
  std::vector<re2::StringPiece> groups(static_cast<std::size_t>(group_count));
  re2::StringPiece text(input.data(), input.size());
  std::size_t pos = 0;
  std::size_t last_match_end = std::string_view::npos;
  while (pos <= input.size()) {
    if (!re.Match(text, pos, input.size(), RE2::UNANCHORED, groups.data(), group_count)) break;
    std::size_t match_start = static_cast<std::size_t>(groups[0].data() - input.data());
    std::size_t match_end = match_start + groups[0].size();
    if (groups[0].empty() && match_start == last_match_end) {
      // An empty match right after the previous match is skipped, as in Go.
      if (match_start >= input.size()) break;
      out += input[match_start];
      pos = match_start + 1;
      continue;
    }
    out.append(input.substr(pos, match_start - pos));
    if (literal) {
      out.append(repl);
    } else {
      expand_replacement(re, repl, groups.data(), group_count, out);
    }
    last_match_end = match_end;
    if (match_end == match_start) {
      if (match_start < input.size()) out += input[match_start];
      pos = match_start + 1;
    } else {
      pos = match_end;
    }
  }
  if (pos < input.size()) out.append(input.substr(pos));
  return out;
}

std::string go_printf(const std::vector<Value>& args) {
  std::string out;
  const std::string& format = args[0].text;
  std::size_t next_arg = 1;
  for (std::size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out += format[i];
      continue;
    }
    std::size_t spec_start = i++;
    while (i < format.size() && std::strchr("-+ 0#", format[i]) != nullptr) ++i;
    while (i < format.size() && std::isdigit(static_cast<unsigned char>(format[i]))) ++i;
    if (i < format.size() && format[i] == '.') {
      ++i;
      while (i < format.size() && std::isdigit(static_cast<unsigned char>(format[i]))) ++i;
    }
    if (i >= format.size()) {
      out += "%!(NOVERB)";
      break;
    }
    char verb = format[i];
    if (verb == '%') {
      out += '%';
      continue;
    }
    std::string flags = format.substr(spec_start, i - spec_start);
    if (next_arg >= args.size()) {
      out += std::string("%!") + verb + "(MISSING)";
      continue;
    }
    const Value& arg = args[next_arg++];
    char buffer[512];
    double number = 0;
    if (verb == 'd' || verb == 'x' || verb == 'X' || verb == 'o' || verb == 'c') {
      if (!arg.to_number(number)) {
        out += std::string("%!") + verb + "(string=" + arg.to_string() + ")";
        continue;
      }
      std::string spec = flags + "ll" + verb;
      std::snprintf(buffer, sizeof(buffer), spec.c_str(), static_cast<long long>(number));
      out += buffer;
    } else if (verb == 'f' || verb == 'F' || verb == 'e' || verb == 'E' || verb == 'g' ||
               verb == 'G') {
      if (!arg.to_number(number)) {
        out += std::string("%!") + verb + "(string=" + arg.to_string() + ")";
        continue;
      }
      std::string spec = flags + verb;
      std::snprintf(buffer, sizeof(buffer), spec.c_str(), number);
      out += buffer;
    } else if (verb == 'q') {
      out += '"';
      for (char c : arg.to_string()) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
      }
      out += '"';
    } else if (verb == 's' || verb == 'v' || verb == 't') {
      std::string spec = flags + "s";
      std::string text = arg.to_string();
      if (flags.size() == 1) {
        out += text;
      } else {
        std::snprintf(buffer, sizeof(buffer), spec.c_str(), text.c_str());
        out += buffer;
      }
    } else {
      out += std::string("%!") + verb + "(" + arg.to_string() + ")";
    }
  }
  for (; next_arg < args.size(); ++next_arg) {
    out += (next_arg == 1 ? "%!(EXTRA " : ", ") + args[next_arg].to_string();
    if (next_arg + 1 == args.size()) out += ")";
  }
  return out;
}

int compare_values(const Value& a, const Value& b) {
  double x = 0;
  double y = 0;
  if (a.to_number(x) && b.to_number(y)) return x < y ? -1 : (x > y ? 1 : 0);
  std::string sa = a.to_string();
  std::string sb = b.to_string();
  return sa < sb ? -1 : (sa > sb ? 1 : 0);
}

class Renderer {
public:
  explicit Renderer(const TemplateData& data) : data_(data) {}

  bool render(const TemplateNode& node, std::string& out) {
    switch (node.kind) {
      case TemplateNode::Kind::text: out += node.text; return true;
      case TemplateNode::Kind::list:
        for (const auto& child : node.body) {
          if (!render(child, out)) return false;
        }
        return true;
      case TemplateNode::Kind::action: {
        Value value;
        if (!eval_pipeline(node.pipeline, value)) return false;
        out += value.to_string();
        return true;
      }
      case TemplateNode::Kind::branch: {
        Value condition;
        if (!eval_pipeline(node.pipeline, condition)) return false;
        const auto& chosen = condition.truthy() ? node.body : node.else_body;
        for (const auto& child : chosen) {
          if (!render(child, out)) return false;
        }
        return true;
      }
    }
    return true;
  }

  std::string error;

private:
  bool eval_pipeline(const Pipeline& pipeline, Value& result) {
    bool has_piped = false;
    Value piped;
    for (const auto& command : pipeline.commands) {
      if (!eval_command(command, has_piped ? &piped : nullptr, result)) return false;
      piped = result;
      has_piped = true;
    }
    return true;
  }

  bool eval_argument(const Argument& arg, Value& out) {
    switch (arg.kind) {
      case Argument::Kind::field: {
        const std::string* value = data_.label(arg.name);
        out = Value::of_string(value != nullptr ? *value : std::string());
        return true;
      }
      case Argument::Kind::dot: out = Value::of_string(std::string(data_.line())); return true;
      case Argument::Kind::literal: out = arg.literal; return true;
      case Argument::Kind::pipeline: return eval_pipeline(*arg.pipeline, out);
      case Argument::Kind::function: {
        Command call;
        call.args.push_back(arg);
        return eval_command(call, nullptr, out);
      }
    }
    return true;
  }

  bool eval_command(const Command& command, const Value* piped, Value& result) {
    const Argument& head = command.args[0];
    if (head.kind != Argument::Kind::function) return eval_argument(head, result);
    std::vector<Value> args;
    args.reserve(command.args.size());
    for (std::size_t i = 1; i < command.args.size(); ++i) {
      Value value;
      if (!eval_argument(command.args[i], value)) return false;
      args.push_back(std::move(value));
    }
    if (piped != nullptr) args.push_back(*piped);
    return call(*head.function, command.regex.get(), args, result);
  }

  bool need_int(const Value& value, const char* function, long long& out) {
    double number = 0;
    if (!value.to_number(number) || number != std::floor(number)) {
      error = std::string(function) + ": expected an integer, got \"" + value.to_string() + "\"";
      return false;
    }
    out = static_cast<long long>(number);
    return true;
  }

  bool call(const FunctionInfo& info, const RE2* precompiled, std::vector<Value>& args,
            Value& result) {
    auto text = [&](std::size_t i) { return args[i].to_string(); };
    switch (info.function) {
      case Function::to_upper:
      case Function::to_lower: {
        std::string s = text(0);
        for (char& c : s) {
          c = static_cast<char>(info.function == Function::to_upper
                                    ? std::toupper(static_cast<unsigned char>(c))
                                    : std::tolower(static_cast<unsigned char>(c)));
        }
        result = Value::of_string(std::move(s));
        return true;
      }
      case Function::title: {
        std::string s = text(0);
        bool start = true;
        for (char& c : s) {
          if (start && std::isalpha(static_cast<unsigned char>(c))) {
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
          }
          start = std::isspace(static_cast<unsigned char>(c)) != 0;
        }
        result = Value::of_string(std::move(s));
        return true;
      }
      case Function::trim: result = Value::of_string(trim_space(text(0))); return true;
      case Function::trim_prefix: {
        std::string prefix = text(0);
        std::string s = text(1);
        if (s.compare(0, prefix.size(), prefix) == 0) s.erase(0, prefix.size());
        result = Value::of_string(std::move(s));
        return true;
      }
      case Function::trim_suffix: {
        std::string suffix = text(0);
        std::string s = text(1);
        if (s.size() >= suffix.size() &&
            s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0) {
          s.erase(s.size() - suffix.size());
        }
        result = Value::of_string(std::move(s));
        return true;
      }
      case Function::trunc: {
        long long n = 0;
        if (!need_int(args[0], "trunc", n)) return false;
        std::string s = text(1);
        auto size = static_cast<long long>(s.size());
        if (n >= 0 && size > n) s.resize(static_cast<std::size_t>(n));
        if (n < 0 && size + n > 0) s.erase(0, static_cast<std::size_t>(size + n));
        result = Value::of_string(std::move(s));
        return true;
      }
      case Function::replace: {
        std::string from = text(0);
        std::string to = text(1);
        std::string s = text(2);
        result = Value::of_string(replace_all(s, from, to));
        return true;
      }
      case Function::substr: {
        long long start = 0;
        long long end = 0;
        if (!need_int(args[0], "substr", start) || !need_int(args[1], "substr", end)) return false;
        std::string s = text(2);
        auto size = static_cast<long long>(s.size());
        if (start < 0) start = 0;
        if (end < 0 || end > size) end = size;
        result = Value::of_string(start >= end ? std::string()
                                                : s.substr(static_cast<std::size_t>(start),
                                                           static_cast<std::size_t>(end - start)));
        return true;
      }
      case Function::default_value:
        result = args[1].truthy() ? args[1] : args[0];
        return true;
      case Function::printf_: result = Value::of_string(go_printf(args)); return true;
      case Function::regex_replace_all:
      case Function::regex_replace_all_literal: {
        std::unique_ptr<RE2> compiled;
        const RE2* re = precompiled;
        if (re == nullptr) {
          compiled = std::make_unique<RE2>(text(0), RE2::Quiet);
          if (!compiled->ok()) {
            error = "regexReplaceAll: invalid regular expression: " + compiled->error();
            return false;
          }
          re = compiled.get();
        }
        result = Value::of_string(regex_replace_all(
            *re, text(1), text(2), info.function == Function::regex_replace_all_literal));
        return true;
      }
      case Function::contains:
        result = Value::of_bool(text(1).find(text(0)) != std::string::npos);
        return true;
      case Function::has_prefix: {
        std::string s = text(1);
        std::string prefix = text(0);
        result = Value::of_bool(s.compare(0, prefix.size(), prefix) == 0);
        return true;
      }
      case Function::has_suffix: {
        std::string s = text(1);
        std::string suffix = text(0);
        result = Value::of_bool(s.size() >= suffix.size() &&
                                s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0);
        return true;
      }
      case Function::len: result = Value::of_number(static_cast<double>(text(0).size())); return true;
      case Function::eq: {
        bool equal = false;
        for (std::size_t i = 1; i < args.size(); ++i) {
          equal = equal || compare_values(args[0], args[i]) == 0;
        }
        result = Value::of_bool(equal);
        return true;
      }
      case Function::ne: result = Value::of_bool(compare_values(args[0], args[1]) != 0); return true;
      case Function::lt: result = Value::of_bool(compare_values(args[0], args[1]) < 0); return true;
      case Function::le: result = Value::of_bool(compare_values(args[0], args[1]) <= 0); return true;
      case Function::gt: result = Value::of_bool(compare_values(args[0], args[1]) > 0); return true;
      case Function::ge: result = Value::of_bool(compare_values(args[0], args[1]) >= 0); return true;
      case Function::and_: {
        // Go's and: the first falsy argument, else the last.
        result = args.back();
        for (const auto& arg : args) {
          if (!arg.truthy()) {
            result = arg;
            break;
          }
        }
        return true;
      }
      case Function::or_: {
        result = args.back();
        for (const auto& arg : args) {
          if (arg.truthy()) {
            result = arg;
            break;
          }
        }
        return true;
      }
      case Function::not_: result = Value::of_bool(!args[0].truthy()); return true;
      case Function::line: result = Value::of_string(std::string(data_.line())); return true;
      case Function::timestamp:
        result = Value::of_string(format_time(data_.timestamp_ns()));
        return true;
      case Function::none: break;
    }
    return true;
  }

  static std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    if (from.empty()) return s;
    std::string out;
    std::size_t pos = 0;
    while (true) {
      std::size_t found = s.find(from, pos);
      if (found == std::string::npos) break;
      out.append(s, pos, found - pos);
      out += to;
      pos = found + from.size();
    }
    out.append(s, pos, std::string::npos);
    return out;
  }

  const TemplateData& data_;
};

/// Builds the node tree from text and actions, tracking open if blocks.
class TemplateParser {
public:
  bool parse(std::string_view text, TemplateNode& root, std::string& error) {
    root.kind = TemplateNode::Kind::list;
    stack_.push_back({&root.body, nullptr, false, false});
    std::size_t pos = 0;
    bool trim_next_text = false;
    while (pos <= text.size()) {
      std::size_t open = text.find("{{", pos);
      std::string_view literal =
          text.substr(pos, open == std::string_view::npos ? std::string_view::npos : open - pos);
      bool trim_before = open != std::string_view::npos && open + 2 < text.size() &&
                         text[open + 2] == '-' && open + 3 < text.size() &&
                         std::isspace(static_cast<unsigned char>(text[open + 3]));
      add_text(literal, trim_next_text, trim_before);
      if (open == std::string_view::npos) break;
      std::size_t body_start = open + 2 + (trim_before ? 1 : 0);
      std::size_t close = text.find("}}", body_start);
      if (close == std::string_view::npos) {
        error = "unclosed action";
        return false;
      }
      std::size_t body_end = close;
      trim_next_text = close >= 2 && text[close - 1] == '-' &&
                       std::isspace(static_cast<unsigned char>(text[close - 2]));
      if (trim_next_text) --body_end;
      if (!add_action(text.substr(body_start, body_end - body_start), error)) return false;
      pos = close + 2;
    }
    if (stack_.size() > 1) {
      error = "unexpected EOF: missing {{end}}";
      return false;
    }
    return true;
  }

private:
  struct Frame {
    std::vector<TemplateNode>* target;  ///< where new nodes go
    TemplateNode* branch;               ///< the if node, or nullptr at the root
    bool in_else;
    bool chained;  ///< opened by {{else if}}: closed by its parent's {{end}}
  };

  void add_text(std::string_view literal, bool trim_left, bool trim_right) {
    std::string text(literal);
    if (trim_left) {
      std::size_t b = 0;
      while (b < text.size() && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
      text.erase(0, b);
    }
    if (trim_right) {
      while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    }
    if (text.empty()) return;
    TemplateNode node;
    node.kind = TemplateNode::Kind::text;
    node.text = std::move(text);
    stack_.back().target->push_back(std::move(node));
  }

  bool add_action(std::string_view body, std::string& error) {
    std::string trimmed = trim_space(body);
    if (trimmed.size() >= 4 && trimmed.compare(0, 2, "/*") == 0 &&
        trimmed.compare(trimmed.size() - 2, 2, "*/") == 0) {
      return true;  // a comment
    }
    std::vector<ActionToken> tokens;
    if (!lex_action(trimmed, tokens, error)) return false;
    if (tokens.empty()) {
      error = "missing value for command";
      return false;
    }
    const ActionToken& first = tokens[0];
    bool keyword = first.kind == ActionToken::Kind::identifier;
    if (keyword && first.text == "if") return open_if(tokens, 1, error);
    if (keyword && first.text == "else") return add_else(tokens, error);
    if (keyword && first.text == "end") {
      if (tokens.size() != 1 || stack_.size() < 2) {
        error = "unexpected {{end}}";
        return false;
      }
      // Pop the if and every else-if chained into it.
      while (stack_.back().chained) stack_.pop_back();
      stack_.pop_back();
      return true;
    }
    TemplateNode node;
    node.kind = TemplateNode::Kind::action;
    if (!ActionParser(tokens, 0).parse_pipeline(node.pipeline, error, false)) return false;
    stack_.back().target->push_back(std::move(node));
    return true;
  }

  bool open_if(const std::vector<ActionToken>& tokens, std::size_t start, std::string& error,
               bool chained = false) {
    if (start >= tokens.size()) {
      error = "missing value for if";
      return false;
    }
    TemplateNode node;
    node.kind = TemplateNode::Kind::branch;
    if (!ActionParser(tokens, start).parse_pipeline(node.pipeline, error, false)) return false;
    auto& target = *stack_.back().target;
    target.push_back(std::move(node));
    TemplateNode* branch = &target.back();
    stack_.push_back({&branch->body, branch, false, chained});
    return true;
  }

  bool add_else(const std::vector<ActionToken>& tokens, std::string& error) {
    Frame& frame = stack_.back();
    if (frame.branch == nullptr || frame.in_else) {
      error = "unexpected {{else}}";
      return false;
    }
    frame.target = &frame.branch->else_body;
    frame.in_else = true;
    if (tokens.size() == 1) return true;
    if (tokens[1].kind != ActionToken::Kind::identifier || tokens[1].text != "if") {
      error = "unexpected \"" + tokens[1].text + "\" after else";
      return false;
    }
    // {{else if x}} opens an if inside the else branch that closes with the same {{end}}.
    return open_if(tokens, 2, error, true);
  }

  std::vector<Frame> stack_;
};

}  // namespace

Template::Template() : root_(std::make_unique<TemplateNode>()) {}
Template::~Template() = default;

std::shared_ptr<const Template> Template::compile(std::string_view text, std::string& error) {
  auto compiled = std::make_shared<Template>();
  TemplateParser parser;
  if (!parser.parse(text, *compiled->root_, error)) return nullptr;
  return compiled;
}

bool Template::render(const TemplateData& data, std::string& out, std::string& error) const {
  out.clear();
  Renderer renderer(data);
  if (!renderer.render(*root_, out)) {
    error = renderer.error;
    return false;
  }
  return true;
}

bool Template::is_literal() const {
  for (const auto& node : root_->body) {
    if (node.kind != TemplateNode::Kind::text) return false;
  }
  return true;
}

}  // namespace lognurse::logql
