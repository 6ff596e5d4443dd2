// CoAP payloads <-> point values (SPEC.md, [[coap.point]] `format`, `json_pointer`, `type`,
// `scale`, `offset`).
//
// Reading:
//   - format = "text": the whole payload (surrounding whitespace ignored) is the value: true /
//     false (also on/off, 1/0 for bool points), a number, or for string points the text as sent;
//   - format = "json": the payload is a JSON document; `json_pointer` (RFC 6901; unset or "":
//     the whole document) selects one scalar in it. An object or array there is an error.
// The value is then checked against the point's type: bool; int64 and uint64 take integers
// (a number with a fraction or out of range is an error); float64 takes any number; string
// takes text (a JSON number or true/false as it is spelled). With scale 1 and offset 0 integers
// stay exact; otherwise numbers become value * scale + offset, a double.
//
// Writing reverses it: (value - offset) / scale, rounded to the nearest integer (halves away
// from zero) and range-checked for int64 and uint64; bools as true / false. The payload is the
// value as text (format = "text") or as JSON nested under the json_pointer's members
// (json_pointer "/a/b" and 21.5 -> {"a":{"b":21.5}}; no pointer: the bare JSON value).
//
// Pure functions: no I/O, thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "config/config.h"
#include "mapping/value.h"

namespace fieldgate::coap {

// A point's value from a response payload, or `error` saying why there is none ("json_pointer
// /temp: no member \"temp\"", "expected a number, got \"abc\"", ...).
struct Decoded {
  mapping::Value value;
  std::string error;  // empty: `value` holds the value
  bool ok() const { return error.empty(); }
};
Decoded decode_payload(std::string_view payload, const config::CoapPoint& point);

// The request body that writes `value` (a command's value) to `point`, or `error`.
struct Encoded {
  std::string payload;
  std::string error;  // empty: `payload` is the body
  bool ok() const { return error.empty(); }
};
Encoded encode_payload(const mapping::Value& value, const config::CoapPoint& point);

// The JSON text of the scalar that RFC 6901 `pointer` selects in `document` (a string still
// quoted; a view into `document`), or an error naming the pointer. Exposed for the unit tests.
struct Selected {
  std::string_view json;
  std::string error;  // empty: `json` holds the scalar
  bool ok() const { return error.empty(); }
};
Selected select_json(std::string_view document, std::string_view pointer);

}  // namespace fieldgate::coap
