// `fieldgate passwd [-b] [-D] FILE USER [PASSWORD]`, after mosquitto_passwd.
#include <termios.h>
#include <unistd.h>

#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "broker/auth/passwords.h"

namespace fieldgate::auth {

namespace {

constexpr const char* kUsage =
    "Usage: fieldgate passwd [-b] [-D] FILE USER [PASSWORD]\n"
    "  fieldgate passwd FILE USER             add or update USER, reading the password twice\n"
    "                                         from the terminal\n"
    "  fieldgate passwd -b FILE USER PASSWORD add or update USER with PASSWORD\n"
    "  fieldgate passwd -D FILE USER          delete USER\n"
    "FILE is created (mode 0600) when missing. Hashes are PBKDF2-SHA512 ($7$) as mosquitto_passwd\n"
    "writes them, so the file works with mosquitto too.\n";

// Turns terminal echo off for its lifetime when `fd` is a terminal.
class NoEcho {
 public:
  explicit NoEcho(int fd) : fd_(fd) {
    if (::isatty(fd_) && ::tcgetattr(fd_, &saved_) == 0) {
      termios quiet = saved_;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      quiet.c_lflag |= ECHONL;  // the Enter key still moves to the next line
      active_ = ::tcsetattr(fd_, TCSAFLUSH, &quiet) == 0;
    }
  }
  ~NoEcho() {
    if (active_) ::tcsetattr(fd_, TCSAFLUSH, &saved_);
  }
  NoEcho(const NoEcho&) = delete;
  NoEcho& operator=(const NoEcho&) = delete;
  bool active() const { return active_; }

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

std::optional<std::string> read_password(const char* prompt, std::istream& in, std::ostream& out) {
  out << prompt << std::flush;
  std::optional<NoEcho> no_echo;
  if (&in == &std::cin) no_echo.emplace(STDIN_FILENO);
  std::string line;
  const bool got = static_cast<bool>(std::getline(in, line));
  // Without echo the terminal shows no newline unless ECHONL worked; print one otherwise.
  if (!no_echo || !no_echo->active()) out << "\n" << std::flush;
  if (!got) return std::nullopt;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

int passwd_command(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
                   std::ostream& err) {
  bool batch = false;
  bool remove = false;
  std::vector<std::string> positional;
  bool options_done = false;
  for (const std::string& arg : args) {
    if (!options_done && arg == "--") {
      options_done = true;
    } else if (!options_done && (arg == "-h" || arg == "--help")) {
      out << kUsage;
      return 0;
    } else if (!options_done && arg == "-b") {
      batch = true;
    } else if (!options_done && arg == "-D") {
      remove = true;
    } else if (!options_done && arg.size() > 1 && arg[0] == '-') {
      err << "Error: unknown option " << arg << ".\n" << kUsage;
      return 1;
    } else {
      positional.push_back(arg);
    }
  }
  if (batch && remove) {
    err << "Error: -b and -D cannot be used together.\n" << kUsage;
    return 1;
  }
  const size_t wanted = batch ? 3 : 2;
  if (positional.size() != wanted) {
    if (!batch && positional.size() == 3)
      err << "Error: a password on the command line needs -b.\n";
    else
      err << "Error: expected " << (batch ? "FILE USER PASSWORD" : "FILE USER") << ".\n";
    err << kUsage;
    return 1;
  }
  const std::string& file = positional[0];
  const std::string& user = positional[1];

  if (remove) {
    try {
      PasswordFile::delete_user(file, user);
    } catch (const std::out_of_range& e) {
      err << "Error: " << e.what() << ".\n";
      return 1;
    } catch (const std::system_error& e) {
      err << "Error: " << e.what() << ".\n";
      return 2;
    }
    return 0;
  }

  if (const std::string problem = PasswordFile::check_username(user); !problem.empty()) {
    err << "Error: " << problem << ".\n";
    return 1;
  }
  std::string password;
  if (batch) {
    password = positional[2];
  } else {
    const auto first = read_password("Password: ", in, out);
    if (!first) {
      err << "Error: no password given (end of input).\n";
      return 1;
    }
    if (first->empty()) {
      err << "Error: Empty password.\n";
      return 1;
    }
    const auto second = read_password("Reenter password: ", in, out);
    if (!second) {
      err << "Error: no password given (end of input).\n";
      return 1;
    }
    if (*first != *second) {
      err << "Error: Passwords do not match.\n";
      return 1;
    }
    password = *first;
  }
  try {
    PasswordFile::set_user(file, user, password);
  } catch (const std::invalid_argument& e) {
    err << "Error: " << e.what() << ".\n";
    return 1;
  } catch (const std::system_error& e) {
    err << "Error: " << e.what() << ".\n";
    return 2;
  }
  return 0;
}

int passwd_command(const std::vector<std::string>& args) {
  return passwd_command(args, std::cin, std::cout, std::cerr);
}

}  // namespace fieldgate::auth
