#include "adapters/modbus/planner.h"

#include <algorithm>

namespace fieldgate::modbus {
namespace {

using config::ModbusTable;

bool is_bit_table(ModbusTable table) {
  return table == ModbusTable::Coil || table == ModbusTable::Discrete;
}

// A point with its absolute span, ends as uint32_t (address + count may reach 65536).
struct Span {
  size_t point;
  uint32_t begin;
  uint32_t end;
};

bool by_address(const Span& a, const Span& b) {
  if (a.begin != b.begin) return a.begin < b.begin;
  if (a.end != b.end) return a.end < b.end;
  return a.point < b.point;
}

ReadRequest make_request(ModbusTable table, std::span<const Span> spans) {
  ReadRequest request;
  request.table = table;
  uint32_t begin = spans.front().begin;
  uint32_t end = spans.front().end;
  for (const Span& s : spans) {
    begin = std::min(begin, s.begin);
    end = std::max(end, s.end);
  }
  request.address = static_cast<uint16_t>(begin);
  request.count = static_cast<uint16_t>(end - begin);
  for (const Span& s : spans) {
    request.points.push_back(
        {s.point, static_cast<uint16_t>(s.begin - begin), static_cast<uint16_t>(s.end - s.begin)});
  }
  return request;
}

}  // namespace

std::vector<ReadRequest> plan_reads(std::span<const PointSpan> points, const PlanOptions& options) {
  std::vector<ReadRequest> requests;
  for (ModbusTable table :
       {ModbusTable::Coil, ModbusTable::Discrete, ModbusTable::Holding, ModbusTable::Input}) {
    std::vector<Span> spans;
    for (const PointSpan& p : points) {
      if (p.table != table || p.count == 0) continue;
      spans.push_back({p.point, p.address, uint32_t{p.address} + p.count});
    }
    if (spans.empty()) continue;
    std::sort(spans.begin(), spans.end(), by_address);
    uint32_t limit = is_bit_table(table) ? options.max_bits : options.max_registers;
    uint32_t gap = is_bit_table(table) ? options.bit_gap : options.register_gap;

    size_t first = 0;  // the first span of the request being built
    uint32_t begin = spans[0].begin;
    uint32_t end = spans[0].end;
    for (size_t i = 1; i <= spans.size(); ++i) {
      if (i < spans.size()) {
        const Span& s = spans[i];
        uint32_t new_end = std::max(end, s.end);
        bool close_enough = s.begin <= end || s.begin - end <= gap;
        if (close_enough && new_end - begin <= limit) {
          end = new_end;
          continue;
        }
      }
      requests.push_back(make_request(table, std::span(spans).subspan(first, i - first)));
      if (i < spans.size()) {
        first = i;
        begin = spans[i].begin;
        end = spans[i].end;
      }
    }
  }
  return requests;
}

std::vector<ReadRequest> plan_reads(const config::ModbusDevice& device,
                                    const PlanOptions& options) {
  std::vector<PointSpan> spans;
  spans.reserve(device.points.size());
  for (size_t i = 0; i < device.points.size(); ++i) {
    const config::ModbusPoint& p = device.points[i];
    spans.push_back({i, p.table, p.wire_address, p.register_count()});
  }
  return plan_reads(spans, options);
}

std::vector<ReadRequest> split_request(const ReadRequest& request) {
  std::vector<Span> spans;
  for (const ServedPoint& p : request.points) {
    uint32_t begin = uint32_t{request.address} + p.offset;
    spans.push_back({p.point, begin, begin + p.count});
  }
  std::sort(spans.begin(), spans.end(), by_address);
  // Groups of points that read exactly the same registers stay together.
  std::vector<size_t> group_starts;
  for (size_t i = 0; i < spans.size(); ++i) {
    if (i == 0 || spans[i].begin != spans[i - 1].begin || spans[i].end != spans[i - 1].end) {
      group_starts.push_back(i);
    }
  }
  if (group_starts.size() < 2) return {};
  size_t middle = group_starts[group_starts.size() / 2];
  std::span<const Span> all(spans);
  return {make_request(request.table, all.first(middle)),
          make_request(request.table, all.subspan(middle))};
}

}  // namespace fieldgate::modbus
