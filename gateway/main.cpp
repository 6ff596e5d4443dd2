// fieldgate: the command line. Each subcommand is one function; `run` wires the configuration
// to the broker and serves until SIGTERM or SIGINT.
#include <malloc.h>
#include <signal.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "adapters/modbus/commands.h"
#include "broker/auth/acl.h"
#include "broker/auth/passwords.h"
#include "broker/broker.h"
#include "broker/net/tls.h"
#include "common/log.h"
#include "config/config.h"
#include "gateway/bridges.h"
#include "gateway/devices.h"

namespace fieldgate {
namespace {

// Exit codes of SPEC.md.
constexpr int kExitOk = 0;
constexpr int kExitConfig = 1;   // bad config or usage
constexpr int kExitRuntime = 2;  // cannot bind a port, cannot open the database, ...

constexpr const char* kDefaultConfig = "/etc/fieldgate/fieldgate.toml";

constexpr const char* kUsage = R"(usage: fieldgate COMMAND [OPTIONS]

commands:
  run [-c FILE]          run the gateway (default FILE: /etc/fieldgate/fieldgate.toml);
                         plain `fieldgate -c FILE` does the same
  check [-c FILE]        validate a config and print a summary of it
  passwd [-b] [-D] FILE USER [PASSWORD]
                         add, update (-b: password on the command line) or delete (-D) a user
                         in a Mosquitto-format password file
  probe modbus ...       read Modbus registers once and decode them every way
  simulate modbus ...    serve changing demo values over Modbus TCP
  --version              print the version
  --help                 print this help

exit codes: 0 ok, 1 bad config or usage, 2 runtime failure
)";

int usage_error(const std::string& message) {
  std::cerr << "fieldgate: " << message << "\n\n" << kUsage;
  return kExitConfig;
}

// Parses "[-c FILE]"; returns false (and reports) on anything else.
bool parse_config_option(const std::vector<std::string>& args, std::string& file) {
  file = kDefaultConfig;
  for (size_t i = 0; i < args.size(); ++i) {
    if ((args[i] == "-c" || args[i] == "--config") && i + 1 < args.size()) {
      file = args[++i];
    } else {
      usage_error("unexpected argument '" + args[i] + "'");
      return false;
    }
  }
  return true;
}

bool load_config(const std::string& file, config::Config& out) {
  try {
    out = config::load(file);
    return true;
  } catch (const config::ConfigError& e) {
    for (const config::Diagnostic& d : e.diagnostics())
      std::cerr << d.to_string() << "\n";
    std::cerr << "fieldgate: " << file << ": " << e.diagnostics().size()
              << " error(s); fix them and run `fieldgate check -c " << file << "` again\n";
    return false;
  }
}

// What `run` would refuse in the files the config names: password and ACL files that do not
// parse, certificates and keys that do not load, do not match or have expired.
std::vector<std::string> check_named_files(const config::Config& cfg) {
  std::vector<std::string> errors;
  try {
    if (cfg.broker.password_file) auth::PasswordFile().load(cfg.broker.password_file->string());
  } catch (const auth::AuthFileError& e) {
    errors.insert(errors.end(), e.errors().begin(), e.errors().end());
  }
  try {
    if (cfg.broker.acl_file) auth::Acl().load(cfg.broker.acl_file->string());
  } catch (const auth::AuthFileError& e) {
    errors.insert(errors.end(), e.errors().begin(), e.errors().end());
  }
  for (const config::Listener& l : cfg.broker.listeners) {
    if (!l.tls()) continue;
    try {
      net::TlsContext context({l.tls_cert->string(), l.tls_key->string(),
                               l.tls_ca ? l.tls_ca->string() : std::string{},
                               l.require_client_cert});
    } catch (const net::TlsConfigError& e) {
      errors.push_back(
          config::Diagnostic{cfg.file, l.pos.line, l.pos.column, e.what()}.to_string());
    }
  }
  return errors;
}

int check_command(const std::vector<std::string>& args) {
  std::string file;
  if (!parse_config_option(args, file)) return kExitConfig;
  config::Config cfg;
  if (!load_config(file, cfg)) return kExitConfig;
  std::vector<std::string> file_errors = check_named_files(cfg);
  if (!file_errors.empty()) {
    for (const std::string& e : file_errors)
      std::cerr << e << "\n";
    std::cerr << "fieldgate: " << file << ": " << file_errors.size()
              << " error(s) in the files it names; fix them and check again\n";
    return kExitConfig;
  }
  std::cout << config::summary(cfg);
  std::vector<config::Diagnostic> unsupported = config::unsupported_features(cfg);
  if (!unsupported.empty()) {
    std::cout << "\nvalid, but this build of fieldgate cannot run it yet:\n";
    for (const config::Diagnostic& d : unsupported)
      std::cout << "  " << d.to_string() << "\n";
  }
  return kExitOk;
}

log::Level to_log_level(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::Trace:
      return log::Level::Trace;
    case config::LogLevel::Debug:
      return log::Level::Debug;
    case config::LogLevel::Info:
      return log::Level::Info;
    case config::LogLevel::Warn:
      return log::Level::Warn;
    case config::LogLevel::Error:
      return log::Level::Error;
  }
  return log::Level::Info;
}

broker::Options broker_options(const config::Config& cfg) {
  broker::Options o;
  for (const config::Listener& l : cfg.broker.listeners) {
    broker::ListenerOptions listener{l.host, l.port};
    listener.websockets = l.protocol == config::ListenerProtocol::Websockets;
    if (l.tls_cert) listener.tls_cert = l.tls_cert->string();
    if (l.tls_key) listener.tls_key = l.tls_key->string();
    if (l.tls_ca) listener.tls_ca = l.tls_ca->string();
    listener.require_client_cert = l.require_client_cert;
    listener.use_identity_as_username = l.use_identity_as_username;
    o.listeners.push_back(std::move(listener));
  }
  o.allow_anonymous = cfg.broker.allow_anonymous;
  o.max_connections = cfg.broker.max_connections;
  o.max_inflight_messages = cfg.broker.max_inflight_messages;
  o.max_queued_messages = cfg.broker.max_queued_messages;
  o.max_packet_size = cfg.broker.max_packet_size;
  o.max_keepalive_s = cfg.broker.max_keepalive_s;
  o.sys_interval_s = cfg.broker.sys_interval_s;
  if (cfg.broker.password_file) o.password_file = cfg.broker.password_file->string();
  if (cfg.broker.acl_file) o.acl_file = cfg.broker.acl_file->string();
  o.persistence = cfg.broker.persistence;
  o.state_dir = cfg.gateway.state_dir.string();
  o.durability_power = cfg.broker.durability == config::Durability::Power;
  o.persistent_session_expiry_s = cfg.broker.persistent_session_expiry_s;
  // A testing aid: caps the database to simulate a full disk.
  if (const char* pages = std::getenv("FIELDGATE_STORE_MAX_PAGES")) {
    o.store_max_pages = static_cast<uint32_t>(std::strtoul(pages, nullptr, 10));
  }
  o.version = std::string("fieldgate version ") + FIELDGATE_VERSION;
  return o;
}

// The [broker] and [gateway] settings a running broker cannot change: they take effect at the
// next start.
std::vector<std::string> settings_needing_restart(const config::Config& running,
                                                  const config::Config& next) {
  auto same_listener = [](const config::Listener& a, const config::Listener& b) {
    return a.host == b.host && a.port == b.port && a.protocol == b.protocol &&
           a.tls_cert == b.tls_cert && a.tls_key == b.tls_key && a.tls_ca == b.tls_ca &&
           a.require_client_cert == b.require_client_cert &&
           a.use_identity_as_username == b.use_identity_as_username;
  };
  const config::Broker& a = running.broker;
  const config::Broker& b = next.broker;
  std::vector<std::string> changed;
  auto note = [&](bool differs, const char* key) {
    if (differs) changed.push_back(key);
  };
  note(!std::equal(a.listeners.begin(), a.listeners.end(), b.listeners.begin(), b.listeners.end(),
                   same_listener),
       "[[broker.listener]]");
  note(a.persistence != b.persistence, "broker.persistence");
  note(a.durability != b.durability, "broker.durability");
  note(running.gateway.state_dir != next.gateway.state_dir, "gateway.state_dir");
  note(a.allow_anonymous != b.allow_anonymous, "broker.allow_anonymous");
  note(a.password_file != b.password_file, "broker.password_file (the path)");
  note(a.acl_file != b.acl_file, "broker.acl_file (the path)");
  note(a.max_connections != b.max_connections, "broker.max_connections");
  note(a.max_inflight_messages != b.max_inflight_messages, "broker.max_inflight_messages");
  note(a.max_queued_messages != b.max_queued_messages, "broker.max_queued_messages");
  note(a.max_packet_size != b.max_packet_size, "broker.max_packet_size");
  note(a.max_keepalive_s != b.max_keepalive_s, "broker.max_keepalive_s");
  note(a.sys_interval_s != b.sys_interval_s, "broker.sys_interval_s");
  note(a.persistent_session_expiry_s != b.persistent_session_expiry_s,
       "broker.persistent_session_expiry_s");
  auto same_route = [](const config::BridgeRoute& x, const config::BridgeRoute& y) {
    return x.direction == y.direction && x.local == y.local && x.local_prefix == y.local_prefix &&
           x.remote_prefix == y.remote_prefix && x.qos == y.qos;
  };
  auto same_bridge = [&](const config::Bridge& x, const config::Bridge& y) {
    return x.name == y.name && x.url == y.url && x.client_id == y.client_id &&
           x.username == y.username && x.password == y.password &&
           x.password_env == y.password_env && x.tls_ca == y.tls_ca && x.tls_cert == y.tls_cert &&
           x.tls_key == y.tls_key && x.keepalive_s == y.keepalive_s &&
           x.clean_session == y.clean_session && x.queue_max_messages == y.queue_max_messages &&
           x.queue_max_bytes == y.queue_max_bytes && x.availability_topic == y.availability_topic &&
           std::equal(x.routes.begin(), x.routes.end(), y.routes.begin(), y.routes.end(),
                      same_route);
  };
  note(!std::equal(running.bridges.begin(), running.bridges.end(), next.bridges.begin(),
                   next.bridges.end(), same_bridge),
       "[[bridge]]");
  return changed;
}

// SIGHUP: the config file again. Devices, points and mapping are swapped while the broker keeps
// its clients; users and ACL are re-read; a config with errors changes nothing.
void reload_config(const std::string& file, config::Config& running, broker::Broker& broker,
                   gateway::Devices& devices) {
  // The password and ACL files are the broker's to re-read (and to refuse, keeping the rules in
  // force, when they have errors); certificates are read at start only.
  log::info("gateway", "SIGHUP: reloading ", file);
  config::Config next;
  std::vector<std::string> errors;
  try {
    next = config::load(file);
    for (const config::Diagnostic& d : config::unsupported_features(next))
      errors.push_back(d.to_string());
  } catch (const config::ConfigError& e) {
    for (const config::Diagnostic& d : e.diagnostics())
      errors.push_back(d.to_string());
  }
  if (!errors.empty()) {
    for (const std::string& e : errors)
      log::error("gateway", e);
    log::error("gateway", file, ": ", errors.size(),
               " error(s); the running configuration stays in force. Fix them, check with "
               "`fieldgate check -c ",
               file, "` and reload again");
    return;
  }
  log::set_level(to_log_level(next.gateway.log_level));
  broker.request_auth_reload();
  std::vector<std::string> later = settings_needing_restart(running, next);
  running.gateway = next.gateway;
  running.broker = next.broker;
  running.bridges = next.bridges;
  devices.reload(std::move(next));
  if (!later.empty()) {
    std::string keys;
    for (const std::string& key : later)
      keys += (keys.empty() ? "" : ", ") + key;
    log::warn("gateway", "changed settings that take effect only at the next restart: ", keys,
              " (systemctl restart fieldgate)");
  }
  log::info("gateway",
            "configuration reloaded: devices, points and mapping replaced, users and "
            "ACL re-read");
}

// Signals are taken by one thread with sigwait(), so nothing runs in a signal handler.
void handle_signals(const sigset_t& set, const std::string& file, config::Config running,
                    broker::Broker& broker, gateway::Devices& devices) {
  while (true) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      reload_config(file, running, broker, devices);
      continue;
    }
    log::info("gateway", "received ", strsignal(sig), ", stopping");
    sd_notify(0, "STOPPING=1");
    broker.request_stop();
    return;
  }
}

int run_command(const std::vector<std::string>& args) {
  std::string file;
  if (!parse_config_option(args, file)) return kExitConfig;
  config::Config cfg;
  if (!load_config(file, cfg)) return kExitConfig;
  std::vector<config::Diagnostic> unsupported = config::unsupported_features(cfg);
  if (!cfg.broker.enabled) {
    unsupported.push_back({cfg.file,
                           cfg.broker.keys.at("enabled").value_or(config::SourcePos{}).line,
                           cfg.broker.keys.at("enabled").value_or(config::SourcePos{}).column,
                           "not supported yet: broker.enabled = false (the adapters that would "
                           "run without it are not built yet)"});
  }
  if (!unsupported.empty()) {
    for (const config::Diagnostic& d : unsupported)
      std::cerr << d.to_string() << "\n";
    std::cerr << "fieldgate: this build cannot run " << file
              << " yet; remove or comment out the keys above\n";
    return kExitConfig;
  }
  log::set_level(to_log_level(cfg.gateway.log_level));
  // glibc gives each thread that allocates an arena of its own; with a thread per Modbus line
  // that is megabytes of mostly empty heap. Two arenas are plenty for this program.
  mallopt(M_ARENA_MAX, 2);
  if (!cfg.broker.allow_anonymous && !cfg.broker.password_file) {
    log::warn("gateway",
              "allow_anonymous is false and there is no password_file: every client will be "
              "refused (add users with `fieldgate passwd` and set broker.password_file)");
  }

  // Block the signals before any thread starts, so that only the signal thread receives them.
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGTERM, SIGINT, SIGHUP})
    sigaddset(&signals, sig);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  broker::Options options = broker_options(cfg);
  // Under systemd: the loop proves it turns twice per watchdog period (WatchdogSec=), and the
  // status line `systemctl status` shows stays current.
  uint64_t watchdog_usec = 0;
  const bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0;
  gateway::Devices* devices_for_status = nullptr;  // set before the loop runs
  if (watchdog || std::getenv("NOTIFY_SOCKET")) {
    options.heartbeat_interval = std::chrono::milliseconds(10000);
    if (watchdog) {
      options.heartbeat_interval =
          std::min(options.heartbeat_interval, std::chrono::milliseconds(watchdog_usec / 2000));
    }
    options.heartbeat = [watchdog, &devices_for_status](size_t clients) {
      std::string status = "STATUS=" + std::to_string(clients) + " client" +
                           (clients == 1 ? "" : "s") + " connected";
      if (devices_for_status) status += ", " + devices_for_status->status();
      if (watchdog) status += "\nWATCHDOG=1";
      sd_notify(0, status.c_str());
    };
  }
  std::unique_ptr<broker::Broker> broker;
  try {
    broker = std::make_unique<broker::Broker>(std::move(options));
  } catch (const auth::AuthFileError& e) {
    log::error("gateway", e.what());  // names FILE:LINE and what to do
    return kExitConfig;
  } catch (const net::TlsConfigError& e) {
    log::error("gateway", e.what());  // names the listener, the file and what to do
    return kExitConfig;
  } catch (const std::exception& e) {
    log::error("gateway", e.what());
    return kExitRuntime;
  }
  // The bridges to cloud brokers: they queue from now on, connect once started, and the broker
  // stops them as it stops (before its last write of their queues).
  std::unique_ptr<bridge::Bridges> bridges;
  try {
    bridges = std::make_unique<bridge::Bridges>(*broker, bridge_options(cfg));
  } catch (const std::exception& e) {
    log::error("gateway", e.what());
    return kExitConfig;
  }
  // The devices' settings go to their adapters; keep only what a reload compares.
  config::Config running;
  running.file = cfg.file;
  running.gateway = cfg.gateway;
  running.broker = cfg.broker;
  running.bridges = cfg.bridges;
  gateway::Devices devices(std::move(cfg), *broker);
  devices.start();
  bridges->start();
  devices_for_status = &devices;
  // Parsing a large config leaves megabytes of freed heap behind; give them back.
  malloc_trim(0);
  log::info("gateway", "fieldgate ", FIELDGATE_VERSION, " started as '", running.gateway.name,
            "' with ", file);
  sd_notify(0, "READY=1");
  std::thread signal_thread(handle_signals, std::cref(signals), std::cref(file), std::move(running),
                            std::ref(*broker), std::ref(devices));
  broker->run();
  signal_thread.join();
  devices.stop();
  log::info("gateway", "stopped");
  return kExitOk;
}

int not_supported_yet(const std::string& command) {
  std::cerr << "fieldgate " << command << ": not supported yet in this build\n";
  return kExitConfig;
}

}  // namespace
}  // namespace fieldgate

int main(int argc, char** argv) {
  using namespace fieldgate;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage_error("no command given");
  std::string command = args.front();
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return kExitOk;
  }
  if (command == "--version" || command == "-v") {
    std::cout << "fieldgate " << FIELDGATE_VERSION << "\n";
    return kExitOk;
  }
  if (command == "run") return run_command(rest);
  if (command == "-c" || command == "--config") return run_command(args);
  if (command == "check") return check_command(rest);
  if (command == "passwd") return auth::passwd_command(rest);
  if (command == "probe" || command == "simulate") {
    if (!rest.empty() && rest.front() == "modbus") {
      std::vector<std::string> tool_args(rest.begin() + 1, rest.end());
      return command == "probe" ? modbus::probe_command(tool_args)
                                : modbus::simulate_command(tool_args);
    }
    return not_supported_yet(command);
  }
  return usage_error("unknown command '" + command + "'");
}
