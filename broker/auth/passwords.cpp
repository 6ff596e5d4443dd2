#include "broker/auth/passwords.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <system_error>

#include "broker/auth/text_util.h"
#include "broker/codec/codec.h"

namespace fieldgate::auth {

namespace {

constexpr int kIterations = 101;   // mosquitto_passwd 2.0
constexpr size_t kSaltBytes = 12;  // mosquitto_passwd 2.0
constexpr size_t kKeyBytes = 64;   // SHA-512 output

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const uint32_t v = uint32_t(uint8_t(data[i])) << 16 | uint32_t(uint8_t(data[i + 1])) << 8 |
                       uint8_t(data[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (data.size() - i == 1) {
    const uint32_t v = uint32_t(uint8_t(data[i])) << 16;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (data.size() - i == 2) {
    const uint32_t v = uint32_t(uint8_t(data[i])) << 16 | uint32_t(uint8_t(data[i + 1])) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// Standard base64; the '=' padding may be left out. nullopt for anything else.
std::optional<std::string> base64_decode(std::string_view text) {
  if (!text.empty() && text.size() % 4 == 0) {
    if (text.ends_with("==")) {
      text.remove_suffix(2);
    } else if (text.ends_with('=')) {
      text.remove_suffix(1);
    }
  }
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const size_t pos = kAlphabet.find(c);
    if (pos == std::string_view::npos) return std::nullopt;
    acc = acc << 6 | static_cast<uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // non-canonical trailing bits
  return out;
}

std::string pbkdf2_sha512(std::string_view password, std::string_view salt, int iterations) {
  std::string key(kKeyBytes, '\0');
  const int ok =
      PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), iterations, EVP_sha512(),
                        static_cast<int>(key.size()), reinterpret_cast<unsigned char*>(key.data()));
  if (ok != 1) throw std::runtime_error("PKCS5_PBKDF2_HMAC failed");
  return key;
}

std::string sha512(std::string_view password, std::string_view salt) {
  std::string digest(kKeyBytes, '\0');
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned int length = 0;
  const bool ok =
      ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha512(), nullptr) == 1 &&
      EVP_DigestUpdate(ctx, password.data(), password.size()) == 1 &&
      EVP_DigestUpdate(ctx, salt.data(), salt.size()) == 1 &&
      EVP_DigestFinal_ex(ctx, reinterpret_cast<unsigned char*>(digest.data()), &length) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok || length != kKeyBytes) throw std::runtime_error("SHA-512 digest failed");
  return digest;
}

// The whole file, or nullopt when it does not exist; throws std::system_error otherwise.
std::optional<std::string> slurp(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw std::system_error(errno, std::generic_category(), "cannot open " + path);
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
      throw std::system_error(error, std::generic_category(), "cannot read " + path);
    }
    out.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string read_file(const std::string& path) {
  std::optional<std::string> content;
  try {
    content = slurp(path);
  } catch (const std::system_error& e) {
    throw AuthFileError(
        {path + ": " + e.code().message() + " (check that fieldgate may read the file)"});
  }
  if (!content) throw AuthFileError({path + ": no such file (check the path)"});
  return std::move(*content);
}

// The user a password-file line names: the text before the first ':' of the trimmed line, or
// nullopt for blank lines and comments.
std::optional<std::string_view> line_user(std::string_view line) {
  line = trim(line);
  if (line.empty() || line[0] == '#') return std::nullopt;
  return line.substr(0, line.find(':'));
}

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// Replaces the file at `path` with `content`: written to a temporary file beside it, synced and
// renamed over it. The mode and owner of an existing file are kept; a new file gets mode 0600.
void replace_file(const std::string& path, std::string_view content) {
  namespace fs = std::filesystem;
  std::string target = path;
  std::error_code ec;
  if (fs::is_symlink(path, ec)) target = fs::canonical(path).string();  // write where it points

  struct stat old {};
  const bool exists = ::stat(target.c_str(), &old) == 0;
  if (!exists && errno != ENOENT) throw_errno("cannot stat " + target);

  std::string temp = target + ".XXXXXX";
  const int fd = ::mkstemp(temp.data());  // mode 0600
  if (fd < 0) throw_errno("cannot create a temporary file beside " + target);
  auto fail = [&](const std::string& what) {
    const int error = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    errno = error;
    throw_errno(what);
  };
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write " + temp);
    }
    done += static_cast<size_t>(n);
  }
  if (exists) {
    if (::fchmod(fd, old.st_mode & 07777) != 0) fail("cannot set the mode of " + temp);
    // Only root may give the file away; anyone else keeps owning what they write.
    if ((old.st_uid != ::geteuid() || old.st_gid != ::getegid()) &&
        ::fchown(fd, old.st_uid, old.st_gid) != 0 && errno != EPERM) {
      fail("cannot set the owner of " + temp);
    }
  }
  if (::fsync(fd) != 0) fail("cannot sync " + temp);
  if (::close(fd) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    errno = error;
    throw_errno("cannot write " + temp);
  }
  if (::rename(temp.c_str(), target.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    errno = error;
    throw_errno("cannot replace " + target);
  }
  // Make the rename durable too.
  const std::string dir = fs::path(target).parent_path().string();
  const int dir_fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace

AuthFileError::AuthFileError(std::vector<std::string> errors)
    : std::runtime_error(join_lines(errors)), errors_(std::move(errors)) {}

void PasswordFile::load(const std::string& path) {
  load_text(read_file(path), path);
}

void PasswordFile::load_text(std::string_view text, std::string_view name) {
  decltype(users_) users;
  std::unordered_map<std::string, size_t, Hash, std::equal_to<>> first_line;
  std::vector<std::string> errors;
  size_t number = 0;
  for_each_line(text, [&](std::string_view raw) {
    ++number;
    const std::string_view line = trim(raw);
    if (line.empty() || line[0] == '#') return;
    auto error = [&](const std::string& message) {
      errors.push_back(std::string(name) + ":" + std::to_string(number) + ": " + message);
    };
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      error("expected USER:HASH; add users with `fieldgate passwd " + std::string(name) +
            " USER` (or mosquitto_passwd), or start a comment line with '#'");
      return;
    }
    const std::string user(line.substr(0, colon));
    const std::string_view hash = line.substr(colon + 1);
    const std::string redo =
        "; set the password again with `fieldgate passwd " + std::string(name) + " " + user + "`";

    Entry entry{};
    std::vector<std::string_view> fields;  // hash split at '$', after the leading '$'
    if (hash.size() >= 3 && hash[0] == '$') {
      size_t start = 1;
      while (true) {
        const size_t dollar = hash.find('$', start);
        fields.push_back(hash.substr(
            start, dollar == std::string_view::npos ? std::string_view::npos : dollar - start));
        if (dollar == std::string_view::npos) break;
        start = dollar + 1;
      }
    }
    std::string_view salt_text, key_text;
    if (!fields.empty() && fields[0] == "7") {
      if (fields.size() != 4) {
        error("malformed $7$ hash for user \"" + user + "\" (expected $7$ITERATIONS$SALT$HASH)" +
              redo);
        return;
      }
      int iterations = 0;
      const auto [end, ec] =
          std::from_chars(fields[1].data(), fields[1].data() + fields[1].size(), iterations);
      if (ec != std::errc() || end != fields[1].data() + fields[1].size() || iterations < 1) {
        error("bad iteration count \"" + std::string(fields[1]) + "\" for user \"" + user + "\"" +
              redo);
        return;
      }
      entry.kind = Kind::Pbkdf2Sha512;
      entry.iterations = iterations;
      salt_text = fields[2];
      key_text = fields[3];
    } else if (!fields.empty() && fields[0] == "6") {
      if (fields.size() != 3) {
        error("malformed $6$ hash for user \"" + user + "\" (expected $6$SALT$HASH)" + redo);
        return;
      }
      entry.kind = Kind::Sha512;
      salt_text = fields[1];
      key_text = fields[2];
    } else if (hash.empty()) {
      error("user \"" + user + "\" has no password hash" + redo);
      return;
    } else if (!fields.empty()) {
      error("unknown hash type \"$" + std::string(fields[0]) + "$\" for user \"" + user +
            "\": fieldgate reads $7$ (PBKDF2-SHA512) and $6$ (SHA-512) hashes as mosquitto 2.0 "
            "does" +
            redo);
      return;
    } else {
      error("the password of user \"" + user +
            "\" is not hashed (plain text is not accepted, as in mosquitto 2.0)" + redo);
      return;
    }
    auto salt = base64_decode(salt_text);
    auto key = base64_decode(key_text);
    if (!salt || salt->empty()) {
      error("salt of user \"" + user + "\" is not valid base64" + redo);
      return;
    }
    if (!key || key->size() != kKeyBytes) {
      error("hash of user \"" + user + "\" is not 64 bytes of base64" + redo);
      return;
    }
    entry.salt = std::move(*salt);
    entry.key = std::move(*key);
    if (auto it = first_line.find(user); it != first_line.end()) {
      error("user \"" + user + "\" is already listed on line " + std::to_string(it->second) +
            "; remove one of the two lines");
      return;
    }
    first_line.emplace(user, number);
    users.emplace(user, std::move(entry));
  });
  if (!errors.empty()) throw AuthFileError(std::move(errors));
  users_ = std::move(users);
}

bool PasswordFile::check(const Entry& entry, std::string_view password) {
  const std::string derived = entry.kind == Kind::Pbkdf2Sha512
                                  ? pbkdf2_sha512(password, entry.salt, entry.iterations)
                                  : sha512(password, entry.salt);
  return derived.size() == entry.key.size() &&
         CRYPTO_memcmp(derived.data(), entry.key.data(), derived.size()) == 0;
}

bool PasswordFile::verify(std::string_view user, std::string_view password) const {
  // Unknown users cost the same as known ones: a $7$ hash with mosquitto_passwd's parameters
  // is checked (and fails), so timing does not tell whether the user exists.
  static const Entry dummy{Kind::Pbkdf2Sha512, kIterations, std::string(kSaltBytes, 'S'),
                           std::string(kKeyBytes, '\0')};
  const auto it = users_.find(user);
  if (it == users_.end()) {
    (void)check(dummy, password);
    return false;
  }
  return check(it->second, password);
}

bool PasswordFile::contains(std::string_view user) const {
  return users_.find(user) != users_.end();
}

std::string PasswordFile::hash_password(std::string_view password) {
  std::string salt(kSaltBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()), static_cast<int>(salt.size())) !=
      1) {
    throw std::runtime_error("cannot get random bytes for a salt (RAND_bytes failed)");
  }
  return "$7$" + std::to_string(kIterations) + "$" + base64_encode(salt) + "$" +
         base64_encode(pbkdf2_sha512(password, salt, kIterations));
}

std::string PasswordFile::check_username(std::string_view user) {
  if (user.empty()) return "the user name is empty";
  if (user.find(':') != std::string_view::npos)
    return "the user name may not contain ':' (it separates name and hash in the file)";
  if (!mqtt::valid_utf8(user)) return "the user name is not valid UTF-8";
  for (char c : user) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
      return "the user name may not contain control characters";
  }
  if (trim(user) != user) return "the user name may not start or end with whitespace";
  if (user[0] == '#') return "the user name may not start with '#' (that starts a comment)";
  return {};
}

std::string PasswordFile::with_user_line(std::string_view content, std::string_view user,
                                         std::string_view hash) {
  const std::string new_line = std::string(user) + ":" + std::string(hash);
  std::string out;
  out.reserve(content.size() + new_line.size() + 2);
  bool replaced = false;
  size_t start = 0;
  while (start < content.size()) {
    size_t end = content.find('\n', start);
    const bool has_newline = end != std::string_view::npos;
    if (!has_newline) end = content.size();
    const std::string_view line = content.substr(start, end - start);
    if (!replaced && line_user(line) == user) {
      out += new_line;
      replaced = true;
    } else {
      out += line;
    }
    out += '\n';
    start = end + 1;
  }
  if (!replaced) out += new_line + "\n";
  return out;
}

bool PasswordFile::remove_user_line(std::string& content, std::string_view user) {
  std::string out;
  out.reserve(content.size());
  bool removed = false;
  size_t start = 0;
  while (start < content.size()) {
    size_t end = content.find('\n', start);
    if (end == std::string::npos) end = content.size();
    const std::string_view line = std::string_view(content).substr(start, end - start);
    if (line_user(line) == user) {
      removed = true;  // every line of the user, should the file list them twice
    } else {
      out += line;
      out += '\n';
    }
    start = end + 1;
  }
  if (removed) content = std::move(out);
  return removed;
}

void PasswordFile::set_user(const std::string& path, std::string_view user,
                            std::string_view password) {
  if (const std::string problem = check_username(user); !problem.empty())
    throw std::invalid_argument(problem);
  const std::string content = slurp(path).value_or("");
  replace_file(path, with_user_line(content, user, hash_password(password)));
}

void PasswordFile::delete_user(const std::string& path, std::string_view user) {
  std::optional<std::string> content = slurp(path);
  if (!content) throw std::out_of_range(path + " does not exist");
  if (!remove_user_line(*content, user))
    throw std::out_of_range("user \"" + std::string(user) + "\" is not in " + path);
  replace_file(path, *content);
}

}  // namespace fieldgate::auth
