// Tests of password files, `fieldgate passwd` and ACLs (broker/auth/).
//
// Interoperability is checked against the real Mosquitto tools when they are installed:
// files written by mosquitto_passwd must verify here, and files written here must let a client
// log in to mosquitto itself. Those tests are skipped when the tools are missing.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "broker/auth/acl.h"
#include "broker/auth/passwords.h"

extern char** environ;

namespace fieldgate::auth {
namespace {

namespace fs = std::filesystem;

// --- Helpers ---

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "auth_test.XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

void write_file(const std::string& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

unsigned file_mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

bool executable(const char* path) {
  return ::access(path, X_OK) == 0;
}

// Runs a program (no shell) and returns its exit status, or -1 when it could not run.
// Output goes to /dev/null.
int run(const std::vector<std::string>& argv, pid_t* background = nullptr) {
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  if (background != nullptr) {
    *background = pid;
    return 0;
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A loopback TCP port nobody listens on right now.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t length = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
    ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool port_open(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// Hashes written by mosquitto_passwd 2.0.11 (`-b`, and `-H sha512 -b` for the $6$ one).
constexpr const char* kAliceSecret =  // password "secret"
    "$7$101$2pnClKf7MAHOb9p2$L0/8czk6ZEJVC2IzEo/2M4SHjTOTKpFlFa0jASd5tAqIvKt9SDGY90TwFHat4c9aac3"
    "LGPMjXUs2oOSOO3O8Sg==";
constexpr const char* kBobPaSs =  // password "pa ss"
    "$7$101$M3s2tzk6781irdmm$U9nUh1fjglY7NVT6G++SnC3h08JNRI8w3vqGQYR3Agy4VTGoVeWGaeK/HO3t9wpmKog"
    "UvZ1FWkq8ELGZxGwxMA==";
constexpr const char* kCarolX =  // password "x", $6$
    "$6$9Mik6Sx7eHUYP56Q$e6IoFdLCnsGyuYYDxkFsCUI5eBfBFRLHSAS+KkW5YrNYlF7FkPOI06GnTgL1xn1ZzLojC0RJ"
    "X/MXSkFIGQppXw==";

std::string line(const std::string& user, const std::string& hash) {
  return user + ":" + hash + "\n";
}

// The errors load_text reports for `text` (empty when it loads).
std::vector<std::string> password_errors(std::string_view text) {
  PasswordFile file;
  try {
    file.load_text(text, "pw");
  } catch (const AuthFileError& e) {
    return e.errors();
  }
  return {};
}

// --- Password hashes ---

TEST(PasswordHash, HasMosquittoPasswdFormat) {
  const std::string hash = PasswordFile::hash_password("secret");
  // $7$, 101 iterations, 12-byte salt (16 base64 characters, no padding), 64-byte key (88
  // characters ending in "==").
  const std::string b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  ASSERT_EQ(hash.size(), 7 + 16 + 1 + 88) << hash;
  EXPECT_EQ(hash.substr(0, 7), "$7$101$");
  EXPECT_EQ(hash.substr(7, 16).find_first_not_of(b64), std::string::npos) << hash;
  EXPECT_EQ(hash[23], '$');
  EXPECT_EQ(hash.substr(24, 86).find_first_not_of(b64), std::string::npos) << hash;
  EXPECT_EQ(hash.substr(110), "==");
  EXPECT_NE(PasswordFile::hash_password("secret"), hash) << "the salt must be random";
}

TEST(PasswordHash, OwnHashesVerify) {
  PasswordFile file;
  file.load_text(line("u", PasswordFile::hash_password("pässword")) +
                     line("empty", PasswordFile::hash_password("")),
                 "pw");
  EXPECT_TRUE(file.verify("u", "pässword"));
  EXPECT_FALSE(file.verify("u", "password"));
  EXPECT_TRUE(file.verify("empty", ""));
  EXPECT_FALSE(file.verify("empty", " "));
}

TEST(PasswordHash, MosquittoPasswdVectorsVerify) {
  PasswordFile file;
  file.load_text(line("alice", kAliceSecret) + line("bob", kBobPaSs) + line("carol", kCarolX),
                 "pw");
  EXPECT_EQ(file.size(), 3u);
  EXPECT_TRUE(file.verify("alice", "secret"));
  EXPECT_FALSE(file.verify("alice", "Secret"));
  EXPECT_FALSE(file.verify("alice", "secret "));
  EXPECT_FALSE(file.verify("alice", ""));
  EXPECT_TRUE(file.verify("bob", "pa ss"));
  EXPECT_FALSE(file.verify("bob", "secret"));
  EXPECT_TRUE(file.verify("carol", "x"));
  EXPECT_FALSE(file.verify("carol", "y"));
  EXPECT_FALSE(file.verify("dave", "secret"));
  EXPECT_FALSE(file.verify("Alice", "secret"));
}

TEST(PasswordHash, UnknownUserCostsAsMuchAsWrongPassword) {
  PasswordFile file;
  file.load_text(line("alice", kAliceSecret), "pw");
  auto fastest = [&](std::string_view user) {
    auto best = std::chrono::nanoseconds::max();
    for (int i = 0; i < 30; ++i) {
      const auto start = std::chrono::steady_clock::now();
      EXPECT_FALSE(file.verify(user, "wrong"));
      best = std::min(best, std::chrono::steady_clock::now() - start);
    }
    return best.count();
  };
  const auto known = fastest("alice");
  const auto unknown = fastest("nobody");
  // Without the dummy hash an unknown user would be hundreds of times faster.
  EXPECT_GT(unknown * 3, known) << "unknown " << unknown << " ns, known " << known << " ns";
  EXPECT_GT(known * 3, unknown) << "unknown " << unknown << " ns, known " << known << " ns";
}

// --- Password file parsing ---

TEST(PasswordFileLoad, SkipsCommentsBlankLinesAndSurroundingWhitespace) {
  PasswordFile file;
  file.load_text("# users\n\n   \n  alice:" + std::string(kAliceSecret) +
                     "  \r\n\tcarol:" + kCarolX,  // no final newline
                 "pw");
  EXPECT_EQ(file.size(), 2u);
  EXPECT_TRUE(file.verify("alice", "secret"));
  EXPECT_TRUE(file.verify("carol", "x"));
  EXPECT_TRUE(file.contains("alice"));
  EXPECT_FALSE(file.contains("bob"));
}

TEST(PasswordFileLoad, AcceptsBase64WithoutPadding) {
  std::string hash = kAliceSecret;
  hash.resize(hash.size() - 2);  // drop "=="
  PasswordFile file;
  file.load_text(line("alice", hash), "pw");
  EXPECT_TRUE(file.verify("alice", "secret"));
}

TEST(PasswordFileLoad, OtherIterationCountsAndSaltSizes) {
  // Computed independently with Python's hashlib: PBKDF2-HMAC-SHA512("pw",
  // "0123456789abcdef", 1000 iterations), and SHA-512("päss" + "\x00\xff\x10").
  PasswordFile file;
  file.load_text(
      "a:$7$1000$MDEyMzQ1Njc4OWFiY2RlZg==$bk6AzDNPufwraG/VjmAl+642J4ug0Z1+aNrlKzX8aHwEs63XDUGVJTUk"
      "vPMmA3adUiWnwISWC+BX0WWY7QuPYQ==\n"
      "b:$6$AP8Q$COaZqHru/5DgpOaNtkFMrckvs8NNl9blT6dJ0SGfdn01WmlXOtUeuHcuaAPtWAebrAOSbuigOwhOgiIK4D"
      "fTOg==\n",
      "pw");
  EXPECT_TRUE(file.verify("a", "pw"));
  EXPECT_FALSE(file.verify("a", "pv"));
  EXPECT_TRUE(file.verify("b", "päss"));
  EXPECT_FALSE(file.verify("b", "pass"));
  // The stored iteration count is the one used.
  std::string changed = PasswordFile::hash_password("pw");
  file.load_text(line("u", changed), "pw");
  EXPECT_TRUE(file.verify("u", "pw"));
  changed.replace(0, 7, "$7$102$");
  file.load_text(line("u", changed), "pw");
  EXPECT_FALSE(file.verify("u", "pw"));
}

TEST(PasswordFileLoad, ErrorsNameFileLineAndWhatToDo) {
  struct Case {
    std::string text;
    std::string expected;  // part of the message
  };
  const std::vector<Case> cases = {
      {"justaname\n", "pw:1: expected USER:HASH"},
      {":" + std::string(kAliceSecret) + "\n", "pw:1: expected USER:HASH"},
      {"# c\nbob:$5$abc$def\n", "pw:2: unknown hash type \"$5$\" for user \"bob\""},
      {"bob:plaintext\n", "pw:1: the password of user \"bob\" is not hashed"},
      {"bob:\n", "pw:1: user \"bob\" has no password hash"},
      {"bob:$7$101$abc\n", "pw:1: malformed $7$ hash"},
      {"bob:$6$abc\n", "pw:1: malformed $6$ hash"},
      {"bob:$7$0$2pnClKf7MAHOb9p2$L0/8\n", "pw:1: bad iteration count \"0\""},
      {"bob:$7$1x$2pnClKf7MAHOb9p2$L0/8\n", "pw:1: bad iteration count \"1x\""},
      {"bob:$7$101$2pn!lKf7MAHOb9p2$L0/8\n", "pw:1: salt of user \"bob\" is not valid base64"},
      {"bob:$7$101$2pnClKf7MAHOb9p2$L0/8\n", "pw:1: hash of user \"bob\" is not 64 bytes"},
      {line("alice", kAliceSecret) + "\n" + line("alice", kCarolX),
       "pw:3: user \"alice\" is already listed on line 1"},
  };
  for (const auto& c : cases) {
    const auto errors = password_errors(c.text);
    ASSERT_EQ(errors.size(), 1u) << c.text;
    EXPECT_NE(errors[0].find(c.expected), std::string::npos) << errors[0];
  }
  // Every message says what to do.
  EXPECT_NE(password_errors("bob:$5$abc$def\n")[0].find("fieldgate passwd pw bob"),
            std::string::npos);
}

TEST(PasswordFileLoad, ReportsEveryErrorAndKeepsOldContents) {
  PasswordFile file;
  file.load_text(line("alice", kAliceSecret), "pw");
  try {
    file.load_text("x\n" + line("carol", kCarolX) + "y:$1$a$b\n", "other");
    FAIL() << "expected AuthFileError";
  } catch (const AuthFileError& e) {
    ASSERT_EQ(e.errors().size(), 2u);
    EXPECT_EQ(e.errors()[0].rfind("other:1: ", 0), 0u) << e.errors()[0];
    EXPECT_EQ(e.errors()[1].rfind("other:3: ", 0), 0u) << e.errors()[1];
    EXPECT_NE(std::string(e.what()).find('\n'), std::string::npos);
  }
  EXPECT_TRUE(file.verify("alice", "secret"));
  EXPECT_FALSE(file.contains("carol"));
}

TEST(PasswordFileLoad, MissingFileNamesIt) {
  TempDir dir;
  PasswordFile file;
  try {
    file.load(dir.file("nope"));
    FAIL() << "expected AuthFileError";
  } catch (const AuthFileError& e) {
    EXPECT_NE(std::string(e.what()).find(dir.file("nope")), std::string::npos) << e.what();
  }
}

// --- Writing password files ---

TEST(PasswordFileWrite, UserNames) {
  EXPECT_EQ(PasswordFile::check_username("alice"), "");
  EXPECT_EQ(PasswordFile::check_username("ünïcode user"), "");
  EXPECT_NE(PasswordFile::check_username(""), "");
  EXPECT_NE(PasswordFile::check_username("a:b"), "");
  EXPECT_NE(PasswordFile::check_username("a\nb"), "");
  EXPECT_NE(PasswordFile::check_username(" alice"), "");
  EXPECT_NE(PasswordFile::check_username("alice\t"), "");
  EXPECT_NE(PasswordFile::check_username("#alice"), "");
  EXPECT_NE(PasswordFile::check_username("\xff\xfe"), "");
}

TEST(PasswordFileWrite, LineEditsKeepOtherLines) {
  const std::string content = "# top\nalice:OLD\n\n  bob:B  \n# alice:commented\nzed:Z";
  EXPECT_EQ(PasswordFile::with_user_line(content, "alice", "NEW"),
            "# top\nalice:NEW\n\n  bob:B  \n# alice:commented\nzed:Z\n");
  EXPECT_EQ(PasswordFile::with_user_line(content, "bob", "NEW"),
            "# top\nalice:OLD\n\nbob:NEW\n# alice:commented\nzed:Z\n");
  EXPECT_EQ(PasswordFile::with_user_line(content, "carl", "C"), content + "\ncarl:C\n");
  EXPECT_EQ(PasswordFile::with_user_line("", "carl", "C"), "carl:C\n");
  EXPECT_EQ(PasswordFile::with_user_line("a:1\n", "a", "2"), "a:2\n");
  // "al" is not "alice".
  EXPECT_EQ(PasswordFile::with_user_line("alice:1\n", "al", "2"), "alice:1\nal:2\n");

  std::string edited = content;
  EXPECT_TRUE(PasswordFile::remove_user_line(edited, "alice"));
  EXPECT_EQ(edited, "# top\n\n  bob:B  \n# alice:commented\nzed:Z\n");
  EXPECT_FALSE(PasswordFile::remove_user_line(edited, "alice"));
  EXPECT_FALSE(PasswordFile::remove_user_line(edited, "# alice"));
}

TEST(PasswordFileWrite, CreatesUpdatesAndDeletes) {
  TempDir dir;
  const std::string path = dir.file("passwd");
  PasswordFile::set_user(path, "alice", "one");
  EXPECT_EQ(file_mode(path), 0600u);
  PasswordFile::set_user(path, "bob", "two");
  PasswordFile::set_user(path, "alice", "three");

  PasswordFile file;
  file.load(path);
  EXPECT_EQ(file.size(), 2u);
  EXPECT_TRUE(file.verify("alice", "three"));
  EXPECT_FALSE(file.verify("alice", "one"));
  EXPECT_TRUE(file.verify("bob", "two"));
  EXPECT_EQ(read_file(path).rfind("alice:$7$101$", 0), 0u) << "alice keeps the first line";

  PasswordFile::delete_user(path, "alice");
  file.load(path);
  EXPECT_EQ(file.size(), 1u);
  EXPECT_FALSE(file.contains("alice"));
  EXPECT_THROW(PasswordFile::delete_user(path, "alice"), std::out_of_range);
  EXPECT_THROW(PasswordFile::delete_user(dir.file("missing"), "alice"), std::out_of_range);
  EXPECT_THROW(PasswordFile::set_user(path, "a:b", "x"), std::invalid_argument);
  EXPECT_THROW(PasswordFile::set_user(dir.file("no/such/dir"), "a", "x"), std::system_error);
  // No temporary files left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.file("")), fs::directory_iterator()), 1);
}

TEST(PasswordFileWrite, KeepsModeOfExistingFileAndOtherLines) {
  TempDir dir;
  const std::string path = dir.file("passwd");
  write_file(path, "# managed by hand\n" + line("carol", kCarolX));
  ::chmod(path.c_str(), 0640);
  PasswordFile::set_user(path, "alice", "pw");
  EXPECT_EQ(file_mode(path), 0640u);
  const std::string text = read_file(path);
  EXPECT_EQ(text.rfind("# managed by hand\n" + line("carol", kCarolX) + "alice:$7$", 0), 0u)
      << text;
}

TEST(PasswordFileWrite, FollowsSymlinks) {
  TempDir dir;
  write_file(dir.file("real"), line("carol", kCarolX));
  fs::create_symlink(dir.file("real"), dir.file("link"));
  PasswordFile::set_user(dir.file("link"), "alice", "pw");
  EXPECT_TRUE(fs::is_symlink(dir.file("link")));
  PasswordFile file;
  file.load(dir.file("real"));
  EXPECT_TRUE(file.verify("alice", "pw"));
  EXPECT_TRUE(file.verify("carol", "x"));
}

// --- fieldgate passwd ---

struct CommandResult {
  int code;
  std::string out, err;
};

CommandResult passwd(const std::vector<std::string>& args, const std::string& input = "") {
  std::istringstream in(input);
  std::ostringstream out, err;
  const int code = passwd_command(args, in, out, err);
  return {code, out.str(), err.str()};
}

TEST(PasswdCommand, BatchAddsAndUpdates) {
  TempDir dir;
  const std::string path = dir.file("pw");
  EXPECT_EQ(passwd({"-b", path, "alice", "one"}).code, 0);
  EXPECT_EQ(passwd({"-b", path, "bob", "two"}).code, 0);
  EXPECT_EQ(passwd({"-b", path, "alice", "uno"}).code, 0);
  PasswordFile file;
  file.load(path);
  EXPECT_TRUE(file.verify("alice", "uno"));
  EXPECT_TRUE(file.verify("bob", "two"));
  EXPECT_EQ(file_mode(path), 0600u);
}

TEST(PasswdCommand, ReadsThePasswordTwice) {
  TempDir dir;
  const std::string path = dir.file("pw");
  const CommandResult ok = passwd({path, "alice"}, "s3cret\ns3cret\n");
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_NE(ok.out.find("Password: "), std::string::npos);
  EXPECT_NE(ok.out.find("Reenter password: "), std::string::npos);
  PasswordFile file;
  file.load(path);
  EXPECT_TRUE(file.verify("alice", "s3cret"));

  const CommandResult mismatch = passwd({path, "alice"}, "one\ntwo\n");
  EXPECT_EQ(mismatch.code, 1);
  EXPECT_NE(mismatch.err.find("Passwords do not match"), std::string::npos);
  const CommandResult empty = passwd({path, "alice"}, "\n\n");
  EXPECT_EQ(empty.code, 1);
  const CommandResult eof = passwd({path, "alice"}, "only-once\n");
  EXPECT_EQ(eof.code, 1);
  file.load(path);
  EXPECT_TRUE(file.verify("alice", "s3cret")) << "failed runs change nothing";
}

TEST(PasswdCommand, Deletes) {
  TempDir dir;
  const std::string path = dir.file("pw");
  ASSERT_EQ(passwd({"-b", path, "alice", "one"}).code, 0);
  ASSERT_EQ(passwd({"-b", path, "bob", "two"}).code, 0);
  EXPECT_EQ(passwd({"-D", path, "alice"}).code, 0);
  const CommandResult again = passwd({"-D", path, "alice"});
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.err.find("alice"), std::string::npos);
  EXPECT_EQ(passwd({"-D", dir.file("missing"), "alice"}).code, 1);
  PasswordFile file;
  file.load(path);
  EXPECT_FALSE(file.contains("alice"));
  EXPECT_TRUE(file.contains("bob"));
}

TEST(PasswdCommand, UsageErrors) {
  TempDir dir;
  const std::string path = dir.file("pw");
  EXPECT_EQ(passwd({}).code, 1);
  EXPECT_EQ(passwd({path}).code, 1);
  EXPECT_EQ(passwd({"-b", path, "alice"}).code, 1);
  const CommandResult no_b = passwd({path, "alice", "pw"});
  EXPECT_EQ(no_b.code, 1);
  EXPECT_NE(no_b.err.find("-b"), std::string::npos);
  EXPECT_EQ(passwd({"-b", "-D", path, "alice"}).code, 1);
  EXPECT_EQ(passwd({"-x", path, "alice"}).code, 1);
  const CommandResult colon = passwd({"-b", path, "a:b", "pw"});
  EXPECT_EQ(colon.code, 1);
  EXPECT_NE(colon.err.find("':'"), std::string::npos);
  EXPECT_FALSE(fs::exists(path)) << "nothing written on usage errors";
  EXPECT_EQ(passwd({"--help"}).code, 0);
  // A user name starting with '-' after "--".
  EXPECT_EQ(passwd({"-b", "--", path, "-dash", "pw"}).code, 0);
  // The file cannot be written: a runtime failure.
  EXPECT_EQ(passwd({"-b", dir.file("no/dir/pw"), "alice", "pw"}).code, 2);
}

// --- Interoperability with Mosquitto ---

TEST(MosquittoInterop, MosquittoPasswdFilesVerify) {
  const char* tool = "/usr/bin/mosquitto_passwd";
  if (!executable(tool)) GTEST_SKIP() << tool << " is not installed";
  TempDir dir;
  const std::string path = dir.file("pw");
  ASSERT_EQ(run({tool, "-c", "-b", path, "alice", "secret"}), 0);
  ASSERT_EQ(run({tool, "-b", path, "bob", "pa:ss wörd"}), 0);
  ASSERT_EQ(run({tool, "-H", "sha512", "-b", path, "carol", "x"}), 0);
  PasswordFile file;
  file.load(path);
  EXPECT_TRUE(file.verify("alice", "secret"));
  EXPECT_FALSE(file.verify("alice", "Secret"));
  EXPECT_TRUE(file.verify("bob", "pa:ss wörd"));
  EXPECT_TRUE(file.verify("carol", "x"));
  EXPECT_FALSE(file.verify("carol", "y"));

  // mosquitto_passwd edits a file fieldgate wrote, and fieldgate one mosquitto_passwd wrote.
  ASSERT_EQ(passwd({"-b", path, "dave", "d"}).code, 0);
  ASSERT_EQ(run({tool, "-b", path, "erin", "e"}), 0);
  ASSERT_EQ(run({tool, "-D", path, "alice"}), 0);
  file.load(path);
  EXPECT_FALSE(file.contains("alice"));
  EXPECT_TRUE(file.verify("dave", "d"));
  EXPECT_TRUE(file.verify("erin", "e"));
  EXPECT_TRUE(file.verify("bob", "pa:ss wörd"));
}

class MosquittoBroker {
 public:
  MosquittoBroker(const TempDir& dir, const std::string& password_file) {
    port_ = free_port();
    const std::string conf = dir.file("mosquitto.conf");
    write_file(conf, "user root\nlistener " + std::to_string(port_) +
                         " 127.0.0.1\nallow_anonymous false\npassword_file " + password_file +
                         "\npersistence false\n");
    if (run({"/usr/sbin/mosquitto", "-c", conf}, &pid_) != 0) pid_ = 0;
    for (int i = 0; i < 100 && pid_ != 0 && !port_open(port_); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ~MosquittoBroker() {
    if (pid_ == 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  bool up() const { return pid_ != 0 && port_open(port_); }
  // mosquitto_pub's exit status for one message sent with these credentials.
  int publish(const std::string& user, const std::string& password) const {
    return run({"/usr/bin/mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(port_), "-u",
                user, "-P", password, "-t", "t", "-m", "m"});
  }

 private:
  int port_ = -1;
  pid_t pid_ = 0;
};

TEST(MosquittoInterop, MosquittoAcceptsOurFiles) {
  if (!executable("/usr/sbin/mosquitto") || !executable("/usr/bin/mosquitto_pub"))
    GTEST_SKIP() << "mosquitto or mosquitto_pub is not installed";
  TempDir dir;
  const std::string path = dir.file("pw");
  write_file(path, "# written by fieldgate\n");
  PasswordFile::set_user(path, "alice", "secret");
  PasswordFile::set_user(path, "bob", "pa ss wörd");
  MosquittoBroker broker(dir, path);
  ASSERT_TRUE(broker.up()) << "mosquitto did not start";
  EXPECT_EQ(broker.publish("alice", "secret"), 0);
  EXPECT_EQ(broker.publish("bob", "pa ss wörd"), 0);
  EXPECT_NE(broker.publish("alice", "wrong"), 0);
  EXPECT_NE(broker.publish("bob", "secret"), 0);
  EXPECT_NE(broker.publish("nobody", "secret"), 0);
}

// --- ACL: matching ---

TEST(AclMatch, FilterMatchesLikeSubscriptions) {
  struct Case {
    const char* filter;
    const char* topic;
    bool match;
  };
  const Case cases[] = {
      {"a/b", "a/b", true},     {"a/b", "a/c", false},      {"a/b", "a/b/c", false},
      {"a/b/c", "a/b", false},  {"a/+", "a/b", true},       {"a/+", "a/", true},
      {"a/+", "a", false},      {"a/+", "a/b/c", false},    {"+/+", "/x", true},
      {"+", "", true},          {"a/#", "a", true},         {"a/#", "a/b/c", true},
      {"a/#", "ab", false},     {"#", "a/b", true},         {"#", "/", true},
      {"+/b/#", "x/b", true},   {"+/b/#", "x/c", false},    {"#", "$SYS/x", false},
      {"+/x", "$SYS/x", false}, {"$SYS/#", "$SYS/x", true}, {"$SYS/+", "$SYS/x", true},
      {"a/+/c", "a/b/c", true}, {"a b/c", "a b/c", true},   {"a/%u", "a/%u", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Acl::filter_matches(c.filter, c.topic), c.match) << c.filter << " vs " << c.topic;
  }
}

const std::optional<std::string> kAnonymous;
std::optional<std::string> user(const char* name) {
  return std::string(name);
}

Acl acl_from(std::string_view text) {
  Acl acl;
  acl.load_text(text, "acl");
  return acl;
}

std::vector<std::string> acl_errors(std::string_view text) {
  Acl acl;
  try {
    acl.load_text(text, "acl");
  } catch (const AuthFileError& e) {
    return e.errors();
  }
  return {};
}

// --- ACL: file format ---

TEST(AclLoad, Format) {
  const Acl acl = acl_from(
      "# comment\n"
      "\n"
      "   \n"
      "  topic read pub/#  \n"
      "user alice\n"
      "topic alice/all\n"        // no access word: readwrite
      "topic\twrite\talice/w\n"  // tabs
      "topic read  spaced topic/x \n"
      "topic read\n"  // one word is a topic, as in Mosquitto
      "user  with space \n"
      "topic read sp/#\r\n");
  EXPECT_TRUE(acl.may_read("c", kAnonymous, "pub/x"));
  EXPECT_TRUE(acl.may_read("c", user("alice"), "alice/all"));
  EXPECT_TRUE(acl.may_publish("c", user("alice"), "alice/all"));
  EXPECT_TRUE(acl.may_publish("c", user("alice"), "alice/w"));
  EXPECT_FALSE(acl.may_read("c", user("alice"), "alice/w"));
  EXPECT_TRUE(acl.may_read("c", user("alice"), "spaced topic/x"));
  EXPECT_FALSE(acl.may_read("c", user("alice"), "spaced topic/x "));
  EXPECT_TRUE(acl.may_publish("c", user("alice"), "read"));
  EXPECT_TRUE(acl.may_read("c", user("with space"), "sp/1"));
  EXPECT_FALSE(acl.may_read("c", user("with"), "sp/1"));
}

TEST(AclLoad, ErrorsNameFileAndLine) {
  struct Case {
    std::string text;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"frob x\n", "acl:1: unknown keyword \"frob\""},
      {"TOPIC read a\n", "acl:1: unknown keyword \"TOPIC\""},
      {"\n# c\ntopic foo x\n", "acl:3: unknown access \"foo\""},
      {"topic READ a\n", "acl:1: unknown access \"READ\""},
      {"topic read a/#/b\n", "acl:1: \"a/#/b\" is not a valid topic filter"},
      {"pattern read a/+b\n", "acl:1: \"a/+b\" is not a valid topic filter"},
      {"user\n", "acl:1: `user` needs a user name"},
      {"topic\n", "acl:1: `topic` needs a topic"},
      {"pattern   \n", "acl:1: `pattern` needs a topic"},
  };
  for (const auto& c : cases) {
    const auto errors = acl_errors(c.text);
    ASSERT_EQ(errors.size(), 1u) << c.text;
    EXPECT_NE(errors[0].find(c.expected), std::string::npos) << errors[0];
  }
  EXPECT_EQ(acl_errors("frob\ntopic read ok\nuser\n").size(), 2u);
}

TEST(AclLoad, FailedLoadKeepsOldRules) {
  Acl acl = acl_from("topic read a\n");
  EXPECT_THROW(acl.load_text("topic read b\nbad line\n", "acl"), AuthFileError);
  EXPECT_TRUE(acl.may_read("c", kAnonymous, "a"));
  EXPECT_FALSE(acl.may_read("c", kAnonymous, "b"));

  TempDir dir;
  write_file(dir.file("acl"), "topic read b\n");
  acl.load(dir.file("acl"));
  EXPECT_TRUE(acl.may_read("c", kAnonymous, "b"));
  EXPECT_FALSE(acl.may_read("c", kAnonymous, "a"));
  try {
    acl.load(dir.file("missing"));
    FAIL() << "expected AuthFileError";
  } catch (const AuthFileError& e) {
    EXPECT_NE(std::string(e.what()).find(dir.file("missing")), std::string::npos);
  }
}

// --- ACL: who gets which entries ---

TEST(AclRules, GeneralSectionIsForAnonymousClientsOnly) {
  const Acl acl = acl_from(
      "topic readwrite gen/#\n"
      "user alice\n"
      "topic read alice/#\n");
  EXPECT_TRUE(acl.may_publish("c", kAnonymous, "gen/x"));
  EXPECT_TRUE(acl.may_read("c", kAnonymous, "gen/x"));
  EXPECT_FALSE(acl.may_read("c", kAnonymous, "alice/x"));
  EXPECT_FALSE(acl.may_read("c", user("alice"), "gen/x"));
  EXPECT_FALSE(acl.may_read("c", user("bob"), "gen/x")) << "a user without a section";
  EXPECT_TRUE(acl.may_read("c", user("alice"), "alice/x"));
  EXPECT_FALSE(acl.may_publish("c", user("alice"), "alice/x"));
  EXPECT_FALSE(acl.may_read("c", user(""), "gen/x")) << "an empty user name is still a user";
}

TEST(AclRules, NoMatchingEntryMeansDenied) {
  const Acl empty = acl_from("# nothing\n");
  EXPECT_FALSE(empty.may_read("c", kAnonymous, "a"));
  EXPECT_FALSE(empty.may_publish("c", user("alice"), "a"));
  const Acl acl = acl_from("user alice\ntopic read a/+\n");
  EXPECT_FALSE(acl.may_read("c", user("alice"), "a/b/c"));
  EXPECT_FALSE(acl.may_read("c", user("alice"), "b"));
}

TEST(AclRules, ReadAndWriteAreSeparate) {
  const Acl acl = acl_from(
      "user u\n"
      "topic read r\n"
      "topic write w\n"
      "topic readwrite rw\n"
      "topic r2\n");
  EXPECT_TRUE(acl.may_read("c", user("u"), "r"));
  EXPECT_FALSE(acl.may_publish("c", user("u"), "r"));
  EXPECT_FALSE(acl.may_read("c", user("u"), "w"));
  EXPECT_TRUE(acl.may_publish("c", user("u"), "w"));
  EXPECT_TRUE(acl.may_read("c", user("u"), "rw"));
  EXPECT_TRUE(acl.may_publish("c", user("u"), "rw"));
  EXPECT_TRUE(acl.may_read("c", user("u"), "r2"));
  EXPECT_TRUE(acl.may_publish("c", user("u"), "r2"));
}

TEST(AclRules, DenyWinsWhateverTheOrder) {
  const Acl acl = acl_from(
      "topic readwrite anon/#\n"
      "topic deny anon/secret\n"
      "user alice\n"
      "topic readwrite alice/#\n"
      "topic deny alice/secret/#\n"
      "user bob\n"
      "topic deny bob/secret\n"
      "topic readwrite bob/#\n"
      "topic readwrite pd/#\n"
      "topic readwrite pat/bob/no\n"
      "pattern readwrite pat/%u/#\n"
      "pattern deny pd/%u/no\n"
      "pattern deny pat/%u/no\n");
  EXPECT_TRUE(acl.may_publish("c", kAnonymous, "anon/x"));
  EXPECT_FALSE(acl.may_publish("c", kAnonymous, "anon/secret"));
  EXPECT_FALSE(acl.may_read("c", kAnonymous, "anon/secret"));
  EXPECT_TRUE(acl.may_read("c", user("alice"), "alice/x"));
  EXPECT_FALSE(acl.may_read("c", user("alice"), "alice/secret"));
  EXPECT_FALSE(acl.may_publish("c", user("alice"), "alice/secret/deeper"));
  EXPECT_TRUE(acl.may_publish("c", user("bob"), "bob/x"));
  EXPECT_FALSE(acl.may_publish("c", user("bob"), "bob/secret"));
  EXPECT_FALSE(acl.may_read("c", user("bob"), "bob/secret"));
  // A pattern deny beats a topic grant, and the other way round.
  EXPECT_TRUE(acl.may_publish("c", user("bob"), "pd/bob/yes"));
  EXPECT_FALSE(acl.may_publish("c", user("bob"), "pd/bob/no"));
  EXPECT_FALSE(acl.may_read("c", user("bob"), "pat/bob/no"));
  EXPECT_TRUE(acl.may_read("c", user("bob"), "pat/bob/yes"));
}

TEST(AclRules, WildcardEntries) {
  const Acl acl = acl_from(
      "user u\n"
      "topic read plant/+/temp\n"
      "topic read tree/#\n"
      "topic read +/+/+/+/+\n");
  EXPECT_TRUE(acl.may_read("c", user("u"), "plant/a/temp"));
  EXPECT_TRUE(acl.may_read("c", user("u"), "v/w/x/y/z"));
  EXPECT_TRUE(acl.may_read("c", user("u"), "////"));
  EXPECT_FALSE(acl.may_read("c", user("u"), "$SYS/w/x/y/z"));
  EXPECT_FALSE(acl.may_read("c", user("u"), "plant/a/hum"));
  EXPECT_FALSE(acl.may_read("c", user("u"), "plant/a/b/temp"));
  EXPECT_TRUE(acl.may_read("c", user("u"), "tree"));
  EXPECT_TRUE(acl.may_read("c", user("u"), "tree/a/b"));
  EXPECT_FALSE(acl.may_read("c", user("u"), "treehouse"));
}

TEST(AclRules, DollarTopicsNeedDollarEntries) {
  const Acl acl = acl_from(
      "user all\n"
      "topic read #\n"
      "topic read +/broker/#\n"
      "user sys\n"
      "topic read $SYS/#\n");
  EXPECT_TRUE(acl.may_read("c", user("all"), "a/b"));
  EXPECT_FALSE(acl.may_read("c", user("all"), "$SYS/broker/version"));
  EXPECT_FALSE(acl.may_publish("c", user("all"), "$SYS/x"));
  EXPECT_TRUE(acl.may_read("c", user("sys"), "$SYS/broker/version"));
  EXPECT_FALSE(acl.may_read("c", user("sys"), "a/b"));
}

TEST(AclRules, Patterns) {
  const Acl acl = acl_from(
      "user alice\n"
      "topic read own/#\n"
      "pattern readwrite dev/%u/#\n"  // patterns apply to everyone, wherever they stand
      "pattern write cl/%c\n"
      "pattern read mix%u-%c/x\n"
      "pattern read all/#\n");
  EXPECT_TRUE(acl.may_publish("c", user("bob"), "dev/bob/1"));
  EXPECT_FALSE(acl.may_publish("c", user("bob"), "dev/alice/1"));
  EXPECT_TRUE(acl.may_read("c", user("alice"), "dev/alice"));
  EXPECT_TRUE(acl.may_publish("id1", user("bob"), "cl/id1"));
  EXPECT_FALSE(acl.may_publish("id2", user("bob"), "cl/id1"));
  EXPECT_TRUE(acl.may_publish("id1", kAnonymous, "cl/id1")) << "%c applies to anonymous clients";
  EXPECT_TRUE(acl.may_read("id1", user("bob"), "mixbob-id1/x"));
  EXPECT_TRUE(acl.may_read("c", kAnonymous, "all/x"));
  EXPECT_TRUE(acl.may_read("c", user("alice"), "all/x"));
  // %u never matches for anonymous clients: not even the literal text or an empty name.
  EXPECT_FALSE(acl.may_publish("c", kAnonymous, "dev//1"));
  EXPECT_FALSE(acl.may_publish("c", kAnonymous, "dev/%u/1"));
  // A '/' in a name spans levels, as with Mosquitto's text substitution.
  EXPECT_TRUE(acl.may_publish("c", user("a/b"), "dev/a/b/1"));
}

TEST(AclRules, WildcardsInNamesGetNothingFromPatterns) {
  const Acl acl = acl_from(
      "user c+d\n"
      "topic readwrite cd/#\n"
      "pattern readwrite dev/%u/#\n"
      "pattern readwrite cl/%c/#\n"
      "pattern read all/#\n");
  // Own entries still work, as in Mosquitto.
  EXPECT_TRUE(acl.may_publish("c", user("c+d"), "cd/1"));
  EXPECT_FALSE(acl.may_read("c", user("#"), "dev/x/1"));
  EXPECT_FALSE(acl.may_read("c", user("c+d"), "all/x"));
  EXPECT_FALSE(acl.may_read("+", user("bob"), "cl/x/1"));
  EXPECT_FALSE(acl.may_read("#", kAnonymous, "all/x"));
  EXPECT_TRUE(acl.may_read("ok", user("bob"), "all/x"));
  EXPECT_EQ(acl.may_subscribe("c", user("#"), "dev/#"), SubscribeAccess::None);
  EXPECT_EQ(acl.may_subscribe("#", user("bob"), "all/#"), SubscribeAccess::None);
}

// --- ACL: subscriptions ---

TEST(AclSubscribe, AllPartialNone) {
  const Acl acl = acl_from(
      "user u\n"
      "topic read plant/+/temp\n"
      "topic read tree/#\n"
      "topic write wo/#\n"
      "topic read one/topic\n");
  auto sub = [&](const char* filter) { return acl.may_subscribe("c", user("u"), filter); };
  EXPECT_EQ(sub("plant/#"), SubscribeAccess::Partial);
  EXPECT_EQ(sub("plant/+/+"), SubscribeAccess::Partial);
  EXPECT_EQ(sub("plant/a/temp"), SubscribeAccess::All);
  EXPECT_EQ(sub("plant/+/temp"), SubscribeAccess::All);
  EXPECT_EQ(sub("plant/a/hum"), SubscribeAccess::None);
  EXPECT_EQ(sub("plant/a"), SubscribeAccess::None);
  EXPECT_EQ(sub("tree/#"), SubscribeAccess::All);
  EXPECT_EQ(sub("tree"), SubscribeAccess::All);
  EXPECT_EQ(sub("tree/a/+"), SubscribeAccess::All);
  EXPECT_EQ(sub("+/a/+"), SubscribeAccess::Partial);
  EXPECT_EQ(sub("#"), SubscribeAccess::Partial);
  EXPECT_EQ(sub("wo/#"), SubscribeAccess::None) << "write-only";
  EXPECT_EQ(sub("other/#"), SubscribeAccess::None);
  EXPECT_EQ(sub("one/topic"), SubscribeAccess::All);
  EXPECT_EQ(sub("one/+"), SubscribeAccess::Partial);
  EXPECT_EQ(sub("one/topic/#"), SubscribeAccess::Partial) << "one/topic is in it";
  EXPECT_EQ(sub("one/topic/+"), SubscribeAccess::None);
  EXPECT_EQ(sub("$share/group/tree/#"), SubscribeAccess::All);
  EXPECT_EQ(sub("$share/group/plant/#"), SubscribeAccess::Partial);
  EXPECT_EQ(acl.may_subscribe("c", user("v"), "tree/#"), SubscribeAccess::None);
}

TEST(AclSubscribe, Denies) {
  const Acl acl = acl_from(
      "user u\n"
      "topic read tree/#\n"
      "topic deny tree/secret/#\n"
      "topic deny tree/+/private\n");
  auto sub = [&](const char* filter) { return acl.may_subscribe("c", user("u"), filter); };
  EXPECT_EQ(sub("tree/#"), SubscribeAccess::Partial);
  EXPECT_EQ(sub("tree/a/#"), SubscribeAccess::Partial);
  EXPECT_EQ(sub("tree/a/public"), SubscribeAccess::All);
  EXPECT_EQ(sub("tree/secret/#"), SubscribeAccess::None);
  EXPECT_EQ(sub("tree/secret/x"), SubscribeAccess::None);
  EXPECT_EQ(sub("tree/secret"), SubscribeAccess::None);
  EXPECT_EQ(sub("tree/+/private"), SubscribeAccess::None);
  EXPECT_EQ(sub("tree/x/private"), SubscribeAccess::None);
}

TEST(AclSubscribe, DollarTopics) {
  const Acl acl = acl_from(
      "user all\n"
      "topic read #\n"
      "user sys\n"
      "topic read $SYS/broker/#\n");
  EXPECT_EQ(acl.may_subscribe("c", user("all"), "#"), SubscribeAccess::All);
  EXPECT_EQ(acl.may_subscribe("c", user("all"), "$SYS/#"), SubscribeAccess::None);
  EXPECT_EQ(acl.may_subscribe("c", user("all"), "$SYS/broker/uptime"), SubscribeAccess::None);
  EXPECT_EQ(acl.may_subscribe("c", user("sys"), "#"), SubscribeAccess::None);
  EXPECT_EQ(acl.may_subscribe("c", user("sys"), "+/broker/#"), SubscribeAccess::None);
  EXPECT_EQ(acl.may_subscribe("c", user("sys"), "$SYS/#"), SubscribeAccess::Partial);
  EXPECT_EQ(acl.may_subscribe("c", user("sys"), "$SYS/broker/+"), SubscribeAccess::All);
}

TEST(AclSubscribe, PatternsAndAnonymous) {
  const Acl acl = acl_from(
      "topic read public/#\n"
      "pattern read dev/%u/#\n"
      "pattern read cl/%c/#\n");
  EXPECT_EQ(acl.may_subscribe("c", user("bob"), "dev/bob/#"), SubscribeAccess::All);
  EXPECT_EQ(acl.may_subscribe("c", user("bob"), "dev/#"), SubscribeAccess::Partial);
  EXPECT_EQ(acl.may_subscribe("c", user("bob"), "dev/alice/#"), SubscribeAccess::None);
  EXPECT_EQ(acl.may_subscribe("c", kAnonymous, "dev/#"), SubscribeAccess::None);
  EXPECT_EQ(acl.may_subscribe("c", kAnonymous, "public/#"), SubscribeAccess::All);
  EXPECT_EQ(acl.may_subscribe("c", user("bob"), "public/#"), SubscribeAccess::None);
  EXPECT_EQ(acl.may_subscribe("id7", kAnonymous, "cl/id7/x"), SubscribeAccess::All);
  EXPECT_EQ(acl.may_subscribe("id7", kAnonymous, "#"), SubscribeAccess::Partial);
}

// may_subscribe must agree with may_read on every topic its filter matches: All means every
// one is readable, None means none is, Partial means the per-message check decides.
TEST(AclSubscribe, ConsistentWithMayRead) {
  const Acl acl = acl_from(
      "user u\n"
      "topic read a/#\n"
      "topic read +/b/c\n"
      "topic deny a/b/#\n"
      "topic readwrite x/+\n"
      "topic deny x/y\n"
      "topic read $SYS/a\n"
      "pattern read p/%u/+\n"
      "pattern deny p/%u/n\n");
  const std::vector<std::string> levels = {"a", "b", "c", "x", "y", "p", "u", "n", "$SYS", ""};
  std::vector<std::string> topics;
  for (const auto& l1 : levels) {
    topics.push_back(l1);
    for (const auto& l2 : levels) {
      topics.push_back(l1 + "/" + l2);
      for (const auto& l3 : levels) {
        topics.push_back(l1 + "/" + l2 + "/" + l3);
        topics.push_back(l1 + "/" + l2 + "/" + l3 + "/z");
      }
    }
  }
  std::set<std::string> filters;
  const std::vector<std::string> filter_levels = {"a", "b", "c", "x", "y", "p", "u", "$SYS", "+"};
  for (const auto& f1 : filter_levels) {
    filters.insert(f1);
    filters.insert(f1 + "/#");
    for (const auto& f2 : filter_levels) {
      filters.insert(f1 + "/" + f2);
      filters.insert(f1 + "/" + f2 + "/#");
      for (const auto& f3 : filter_levels)
        filters.insert(f1 + "/" + f2 + "/" + f3);
    }
  }
  filters.insert("#");
  int all = 0, none = 0, partial = 0;
  for (const auto& filter : filters) {
    const SubscribeAccess access = acl.may_subscribe("c", user("u"), filter);
    int readable = 0, matched = 0;
    for (const auto& topic : topics) {
      if (!Acl::filter_matches(filter, topic)) continue;
      ++matched;
      const bool read = acl.may_read("c", user("u"), topic);
      readable += read;
      if (access == SubscribeAccess::All) {
        EXPECT_TRUE(read) << filter << " is All but " << topic << " is not readable";
      }
      if (access == SubscribeAccess::None) {
        EXPECT_FALSE(read) << filter << " is None but " << topic << " is readable";
      }
    }
    if (access == SubscribeAccess::Partial) {
      // Exactness where it is easy to tell: some readable topic exists in the sample.
      EXPECT_GT(readable, 0) << filter << " is Partial but nothing in it is readable";
      EXPECT_LT(readable, matched) << filter << " is Partial but everything is readable";
    }
    all += access == SubscribeAccess::All;
    none += access == SubscribeAccess::None;
    partial += access == SubscribeAccess::Partial;
  }
  EXPECT_GT(all, 5);
  EXPECT_GT(none, 5);
  EXPECT_GT(partial, 5);
}

// The per-message check of a partly granted subscription: speed is for bench/, not a test
// (machines are shared); this pins the answers over many calls of the reused buffer.
TEST(AclManyChecks, PerMessageCheckGivesTheSameAnswerEveryTime) {
  std::string text = "user u\n";
  for (int i = 0; i < 50; ++i)
    text += "topic read site" + std::to_string(i) + "/+/temp\n";
  text += "pattern read dev/%u/#\npattern deny dev/%u/secret\n";
  const Acl acl = acl_from(text);
  const std::optional<std::string> name = "u";
  int granted = 0;
  for (int i = 0; i < 20000; ++i)
    granted += acl.may_read("client", name, i % 2 ? "site49/a/temp" : "dev/u/x/y");
  EXPECT_EQ(granted, 20000);
  EXPECT_FALSE(acl.may_read("client", name, "dev/u/secret"));
}

}  // namespace
}  // namespace fieldgate::auth
