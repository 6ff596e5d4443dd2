#include "broker/auth/acl.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "broker/auth/text_util.h"
#include "broker/codec/codec.h"

namespace fieldgate::auth {

namespace {

using Levels = std::vector<std::string_view>;

Levels split_levels(std::string_view filter) {
  Levels levels;
  size_t start = 0;
  while (true) {
    const size_t slash = filter.find('/', start);
    if (slash == std::string_view::npos) {
      levels.push_back(filter.substr(start));
      return levels;
    }
    levels.push_back(filter.substr(start, slash - start));
    start = slash + 1;
  }
}

bool is_dollar(std::string_view level) {
  return !level.empty() && level[0] == '$';
}

// The filter matching exactly the topics both filters match, or nullopt when there are none.
std::optional<Levels> meet(const Levels& a, const Levels& b) {
  Levels out;
  for (size_t i = 0;; ++i) {
    const bool a_end = i == a.size(), b_end = i == b.size();
    if (!a_end && a[i] == "#") {
      // '#' takes whatever b has from here on (nothing: the parent level), except that in the
      // first level it does not match '$' topics.
      if (i == 0 && !b_end && is_dollar(b[i])) return std::nullopt;
      out.insert(out.end(), b.begin() + static_cast<ptrdiff_t>(i), b.end());
      return out;
    }
    if (!b_end && b[i] == "#") {
      if (i == 0 && !a_end && is_dollar(a[i])) return std::nullopt;
      out.insert(out.end(), a.begin() + static_cast<ptrdiff_t>(i), a.end());
      return out;
    }
    if (a_end || b_end) {
      if (a_end && b_end) return out;
      return std::nullopt;
    }
    if (a[i] == "+" && b[i] == "+") {
      out.push_back(a[i]);
    } else if (a[i] == "+") {
      if (i == 0 && is_dollar(b[i])) return std::nullopt;
      out.push_back(b[i]);
    } else if (b[i] == "+") {
      if (i == 0 && is_dollar(a[i])) return std::nullopt;
      out.push_back(a[i]);
    } else if (a[i] == b[i]) {
      out.push_back(a[i]);
    } else {
      return std::nullopt;
    }
  }
}

// Whether every topic `inner` matches is matched by `outer`.
bool covers(const Levels& outer, const Levels& inner) {
  for (size_t i = 0;; ++i) {
    if (i < outer.size() && outer[i] == "#") return !(i == 0 && is_dollar(inner[0]));
    if (i == inner.size()) return i == outer.size();
    if (i == outer.size()) return false;
    if (inner[i] == "#") return false;
    if (outer[i] == "+") {
      if (i == 0 && is_dollar(inner[i])) return false;
    } else if (outer[i] != inner[i]) {
      return false;  // a different literal, or '+' inside a literal level
    }
  }
}

// Whether the user name or client id would turn into a wildcard when put into a pattern.
bool dangerous(std::string_view name) {
  return name.find_first_of("+#") != std::string_view::npos;
}

std::string read_whole_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    throw AuthFileError({path + ": cannot open: " + std::generic_category().message(error) +
                         " (check the path and that fieldgate may read the file)"});
  }
  std::string out;
  char buffer[8192];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      throw AuthFileError({path + ": cannot read: " + std::generic_category().message(error)});
    }
    out.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace

bool Acl::filter_matches(std::string_view filter, std::string_view topic) {
  if (!topic.empty() && topic[0] == '$' && !filter.empty() &&
      (filter[0] == '+' || filter[0] == '#'))
    return false;
  size_t fi = 0, ti = 0;
  bool topic_done = false;
  while (true) {
    size_t fe = filter.find('/', fi);
    const bool filter_last = fe == std::string_view::npos;
    if (filter_last) fe = filter.size();
    const std::string_view level = filter.substr(fi, fe - fi);
    if (level == "#") return true;
    if (topic_done) return false;
    size_t te = topic.find('/', ti);
    const bool topic_last = te == std::string_view::npos;
    if (topic_last) te = topic.size();
    if (level != "+" && level != topic.substr(ti, te - ti)) return false;
    if (filter_last) return topic_last;
    fi = fe + 1;
    if (topic_last) {
      topic_done = true;
    } else {
      ti = te + 1;
    }
  }
}

void Acl::load(const std::string& path) {
  load_text(read_whole_file(path), path);
}

void Acl::load_text(std::string_view text, std::string_view name) {
  std::vector<Rule> anonymous;
  decltype(users_) users;
  std::vector<Rule> patterns;
  std::vector<Rule>* section = &anonymous;
  std::vector<std::string> errors;
  size_t number = 0;
  for_each_line(text, [&](std::string_view raw) {
    ++number;
    const std::string_view line = trim(raw);
    if (line.empty() || line[0] == '#') return;
    auto error = [&](const std::string& message) {
      errors.push_back(std::string(name) + ":" + std::to_string(number) + ": " + message);
    };
    const size_t keyword_end = line.find_first_of(" \t");
    const std::string_view keyword = line.substr(0, keyword_end);
    const std::string_view rest =
        keyword_end == std::string_view::npos ? std::string_view{} : trim(line.substr(keyword_end));

    if (keyword == "user") {
      if (rest.empty()) {
        error("`user` needs a user name (write `user NAME`)");
        return;
      }
      section = &users[std::string(rest)];  // a second section for a name adds to the first
      return;
    }
    if (keyword != "topic" && keyword != "pattern") {
      error("unknown keyword \"" + std::string(keyword) +
            "\": lines are `topic [read|write|readwrite|deny] TOPIC`, `pattern [...] TOPIC`, "
            "`user NAME` or comments starting with '#'");
      return;
    }
    if (rest.empty()) {
      error("`" + std::string(keyword) + "` needs a topic (write `" + std::string(keyword) +
            " [read|write|readwrite|deny] TOPIC`)");
      return;
    }
    Rule rule;
    rule.access = kRead | kWrite;
    std::string_view topic = rest;
    if (const size_t space = rest.find_first_of(" \t"); space != std::string_view::npos) {
      // Two words or more: the first is the access. (One word is a topic, as in Mosquitto.)
      const std::string_view access = rest.substr(0, space);
      topic = trim(rest.substr(space));
      if (access == "read") {
        rule.access = kRead;
      } else if (access == "write") {
        rule.access = kWrite;
      } else if (access == "readwrite") {
        rule.access = kRead | kWrite;
      } else if (access == "deny") {
        rule.access = 0;
      } else {
        error("unknown access \"" + std::string(access) +
              "\": use read, write, readwrite or deny (or leave it out for readwrite)");
        return;
      }
    }
    if (!mqtt::valid_topic_filter(topic)) {
      error("\"" + std::string(topic) +
            "\" is not a valid topic filter ('+' and '#' must fill a whole level, '#' only "
            "last)");
      return;
    }
    rule.filter = std::string(topic);
    rule.wildcard = topic.find_first_of("+#") != std::string_view::npos;
    if (keyword == "pattern") {
      rule.uses_username = topic.find("%u") != std::string_view::npos;
      rule.uses_client_id = topic.find("%c") != std::string_view::npos;
      patterns.push_back(std::move(rule));
    } else {
      section->push_back(std::move(rule));
    }
  });
  if (!errors.empty()) throw AuthFileError(std::move(errors));
  anonymous_ = std::move(anonymous);
  users_ = std::move(users);
  patterns_ = std::move(patterns);
}

const std::vector<Acl::Rule>& Acl::topic_rules(const std::optional<std::string>& username) const {
  static const std::vector<Rule> kNone;
  if (!username) return anonymous_;
  const auto it = users_.find(std::string_view(*username));
  return it == users_.end() ? kNone : it->second;
}

void Acl::expand(const Rule& pattern, std::string_view client_id, std::string_view username,
                 std::string& out) {
  out.clear();
  const std::string_view text = pattern.filter;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 1 < text.size() && (text[i + 1] == 'u' || text[i + 1] == 'c')) {
      out += text[i + 1] == 'u' ? username : client_id;
      ++i;
    } else {
      out += text[i];
    }
  }
}

bool Acl::allowed(std::string_view client_id, const std::optional<std::string>& username,
                  std::string_view topic, uint8_t want) const {
  bool granted = false;
  for (const Rule& rule : topic_rules(username)) {
    const bool match = rule.wildcard ? filter_matches(rule.filter, topic) : rule.filter == topic;
    if (!match) continue;
    if (rule.access == 0) return false;
    if (rule.access & want) granted = true;
  }
  if (patterns_.empty()) return granted;

  const bool bad_user = username && dangerous(*username);
  const bool bad_client = dangerous(client_id);
  thread_local std::string expanded;
  for (const Rule& rule : patterns_) {
    if (rule.uses_username && !username) continue;
    // A name with a wildcard in it matches no real topic once put in literally: skip the rule.
    if ((rule.uses_username && bad_user) || (rule.uses_client_id && bad_client)) continue;
    if (rule.access != 0 && (granted || bad_user || bad_client || !(rule.access & want)))
      continue;  // only a deny could still change the answer
    std::string_view filter = rule.filter;
    if (rule.uses_username || rule.uses_client_id) {
      expand(rule, client_id, username ? std::string_view(*username) : std::string_view{},
             expanded);
      filter = expanded;
    }
    if (!(rule.wildcard ? filter_matches(filter, topic) : filter == topic)) continue;
    if (rule.access == 0) return false;
    granted = true;
  }
  return granted;
}

bool Acl::may_publish(std::string_view client_id, const std::optional<std::string>& username,
                      std::string_view topic) const {
  return allowed(client_id, username, topic, kWrite);
}

bool Acl::may_read(std::string_view client_id, const std::optional<std::string>& username,
                   std::string_view topic) const {
  return allowed(client_id, username, topic, kRead);
}

SubscribeAccess Acl::may_subscribe(std::string_view client_id,
                                   const std::optional<std::string>& username,
                                   std::string_view filter) const {
  if (filter.starts_with("$share/")) {
    const size_t slash = filter.find('/', 7);
    if (slash == std::string_view::npos) return SubscribeAccess::None;
    filter = filter.substr(slash + 1);
  }
  // The entries that apply to this client, patterns filled in.
  std::vector<std::string> expanded;
  std::vector<std::string_view> grants, denies;
  const auto& rules = topic_rules(username);
  expanded.reserve(patterns_.size());
  for (const Rule& rule : rules) {
    if (rule.access == 0) {
      denies.push_back(rule.filter);
    } else if (rule.access & kRead) {
      grants.push_back(rule.filter);
    }
  }
  const bool bad_user = username && dangerous(*username);
  const bool bad_client = dangerous(client_id);
  for (const Rule& rule : patterns_) {
    if (rule.uses_username && !username) continue;
    if ((rule.uses_username && bad_user) || (rule.uses_client_id && bad_client)) continue;
    if (rule.access != 0 && (bad_user || bad_client || !(rule.access & kRead))) continue;
    std::string text;
    expand(rule, client_id, username ? std::string_view(*username) : std::string_view{}, text);
    expanded.push_back(std::move(text));
    (rule.access == 0 ? denies : grants).push_back(expanded.back());
  }

  const Levels wanted = split_levels(filter);
  std::vector<Levels> deny_levels;
  deny_levels.reserve(denies.size());
  bool deny_overlaps = false;
  for (std::string_view deny : denies) {
    deny_levels.push_back(split_levels(deny));
    if (meet(wanted, deny_levels.back())) deny_overlaps = true;
  }
  bool some = false;
  bool all = false;
  for (std::string_view grant : grants) {
    const Levels grant_levels = split_levels(grant);
    if (!deny_overlaps && covers(grant_levels, wanted)) all = true;
    const auto common = meet(wanted, grant_levels);
    if (!common) continue;
    bool denied = false;
    for (const Levels& deny : deny_levels) {
      if (covers(deny, *common)) {
        denied = true;
        break;
      }
    }
    if (!denied) some = true;
  }
  if (all) return SubscribeAccess::All;
  return some ? SubscribeAccess::Partial : SubscribeAccess::None;
}

}  // namespace fieldgate::auth
