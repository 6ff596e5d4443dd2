// Password files in Mosquitto's format, read and written so that files work both ways between
// fieldgate and mosquitto_passwd / mosquitto.
//
// One user a line, `USER:HASH`; blank lines and lines starting with '#' are ignored, and
// whitespace around a line is ignored. HASH is one of:
//
//   $7$ITERATIONS$SALT$KEY   PBKDF2-HMAC-SHA512 (mosquitto 2.0's default). mosquitto_passwd
//                            2.0 writes 101 iterations, a 12-byte salt and a 64-byte key.
//   $6$SALT$KEY              SHA-512 of the password followed by the salt bytes (what
//                            mosquitto_passwd 1.6 and earlier wrote, and `-H sha512` still does).
//
// SALT and KEY are standard base64 (RFC 4648 alphabet "A-Za-z0-9+/", '=' padding), so a 12-byte
// salt is 16 characters and a 64-byte key is 88 characters ending in "==".
#pragma once

#include <cstddef>
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fieldgate::auth {

// A password or ACL file that cannot be used. what() holds every problem found, one per line,
// each as "FILE:LINE: message" (or "FILE: message" when no line is concerned); errors() has
// them one by one.
class AuthFileError : public std::runtime_error {
 public:
  explicit AuthFileError(std::vector<std::string> errors);
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::vector<std::string> errors_;
};

class PasswordFile {
 public:
  // Reads a password file, replacing what this object held. On error (file unreadable, a line
  // that is not USER:HASH, an unknown hash type such as a plain-text password, bad base64, a
  // user listed twice) throws AuthFileError naming FILE:LINE and what to do; the object then
  // keeps its previous contents.
  void load(const std::string& path);
  // The same from text in memory; `name` stands for the file name in error messages.
  void load_text(std::string_view text, std::string_view name);

  // True when the user is listed and the password is theirs. The work done is the same for an
  // unknown user as for a wrong password (a dummy PBKDF2 hash is verified), and the final
  // comparison is constant-time.
  bool verify(std::string_view user, std::string_view password) const;

  bool contains(std::string_view user) const;
  size_t size() const { return users_.size(); }

  // A new `$7$101$SALT$KEY` hash of the password, exactly as mosquitto_passwd 2.0 writes it:
  // 101 iterations, 12 random bytes of salt, a 64-byte PBKDF2-HMAC-SHA512 key.
  static std::string hash_password(std::string_view password);

  // Empty when the name can go into a password file, otherwise why not: not empty, valid
  // UTF-8, no ':' (the field separator), no control characters, no leading or trailing
  // whitespace, not starting with '#' (a comment).
  static std::string check_username(std::string_view user);

  // Adds the user, or replaces their hash, in the file at `path`; every other line is kept as
  // it was. A missing file is created with mode 0600; an existing one keeps its mode and, where
  // the process may set it, its owner. The new file is written beside the old one and renamed
  // over it, so a crash leaves either the old file or the new one. Throws std::invalid_argument
  // for a bad user name and std::system_error for I/O failures.
  static void set_user(const std::string& path, std::string_view user, std::string_view password);
  // Removes the user's line. Throws std::out_of_range when the file does not list the user (or
  // does not exist), and as set_user otherwise.
  static void delete_user(const std::string& path, std::string_view user);

  // The text transformations set_user and delete_user apply, for tests: `hash` replaces the
  // user's line or is appended; returns false from remove_user_line when the user is absent.
  static std::string with_user_line(std::string_view content, std::string_view user,
                                    std::string_view hash);
  static bool remove_user_line(std::string& content, std::string_view user);

 private:
  enum class Kind { Pbkdf2Sha512, Sha512 };
  struct Entry {
    Kind kind;
    int iterations;  // Pbkdf2Sha512 only
    std::string salt;
    std::string key;
  };
  static bool check(const Entry& entry, std::string_view password);

  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> users_;
};

// `fieldgate passwd [-b] [-D] FILE USER [PASSWORD]`. `args` are the arguments after "passwd".
// Without -b the password is read twice from the terminal without echo ("Password: ",
// "Reenter password: "). Returns the process exit code: 0 done, 1 usage or bad input (user
// name with ':', passwords that differ, -D for a user the file does not list), 2 the file could
// not be read or written.
int passwd_command(const std::vector<std::string>& args);
// The same with the password read from `in` (echo is turned off only when `in` is std::cin and
// standard input is a terminal), prompts written to `out` and errors to `err`.
int passwd_command(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
                   std::ostream& err);

}  // namespace fieldgate::auth
