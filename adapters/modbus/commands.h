// The Modbus tools of the command line (SPEC.md, "Command line"):
//
//   fieldgate probe modbus tcp://HOST[:PORT] |
//   rtu:DEVICE[?baud=..&parity=N&data_bits=8&stop_bits=1]
//                   [--unit N] [--table holding] [--address A] [--count C] [--timeout-ms T]
//     reads once and prints the registers raw (hex and decimal) and decoded as every type and
//     word order, or the bits, so a user can find a point's `type` and `order`.
//
//   fieldgate simulate modbus [--listen 127.0.0.1:5020]
//     a Modbus TCP server with changing demo values, until SIGINT or SIGTERM.
//
// Both take the arguments after "modbus", print to stdout (errors to stderr) and return the
// exit code: 0 ok, 1 usage, 2 runtime failure (cannot connect, no answer, Modbus exception,
// cannot listen).
#pragma once

#include <string>
#include <vector>

namespace fieldgate::modbus {

int probe_command(const std::vector<std::string>& args);
int simulate_command(const std::vector<std::string>& args);

}  // namespace fieldgate::modbus
