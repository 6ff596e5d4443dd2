// The read plan of one Modbus device: its points batched into as few requests as the protocol
// allows (ARCHITECTURE.md: contiguous registers in one request, at most 125 registers or 2000
// bits), and the fallback when a device refuses a batch.
//
// Pure functions: no I/O, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "config/config.h"

namespace fieldgate::modbus {

// One point as the planner sees it: where it lives on the wire.
struct PointSpan {
  size_t point = 0;  // the caller's index for it (plan_reads(device) uses the index in points)
  config::ModbusTable table = config::ModbusTable::Holding;
  uint16_t address = 0;  // wire address (counts from 0)
  uint16_t count = 1;    // registers, or bits for coil and discrete
};

// A point a request serves: its registers are request registers [offset, offset + count).
struct ServedPoint {
  size_t point = 0;
  uint16_t offset = 0;
  uint16_t count = 1;
};

// One read: `count` registers (or bits) of `table` from wire address `address`.
struct ReadRequest {
  config::ModbusTable table = config::ModbusTable::Holding;
  uint16_t address = 0;
  uint16_t count = 0;
  std::vector<ServedPoint> points;  // by address, then by count
};

struct PlanOptions {
  uint16_t max_registers = 125;  // per holding/input request (the protocol's limit)
  uint16_t max_bits = 2000;      // per coil/discrete request (the protocol's limit)
  // Unused registers (bits) between two points that are still read through rather than
  // starting a new request: one request costs a round trip, a register costs two bytes.
  uint16_t register_gap = 8;
  uint16_t bit_gap = 64;
};

// The fewest requests that read every point: per table (in the order coil, discrete, holding,
// input), points sorted by address, neighbours merged while the request stays within the limit
// and the unused gap between them is at most the gap threshold. Points may overlap (several
// bits of one register, say). A point larger than the limit gets a request of its own (which
// the device will refuse). Requests come out by table, then by address.
std::vector<ReadRequest> plan_reads(std::span<const PointSpan> points,
                                    const PlanOptions& options = {});

// plan_reads() over a device's points: PointSpan::point is the index in device.points, the
// address is the point's wire_address and the count its register_count().
std::vector<ReadRequest> plan_reads(const config::ModbusDevice& device,
                                    const PlanOptions& options = {});

// For a request the device refused with Modbus exception 2 (illegal data address, which a
// device also answers when a batch touches one register it does not have): two smaller
// requests, each serving half of its points (grouped by distinct address and count, in
// address order) and reading only the span they need. Splitting those again in turn ends with
// requests that serve a single address span, so one bad point does not take its neighbours
// down. Returns an empty vector when the request cannot be split (all its points read the
// same registers): those points are the bad ones.
std::vector<ReadRequest> split_request(const ReadRequest& request);

}  // namespace fieldgate::modbus
