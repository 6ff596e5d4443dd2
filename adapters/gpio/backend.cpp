#include "adapters/gpio/backend.h"

#include <cerrno>
#include <cstring>

namespace fieldgate::gpio {

namespace {

std::string quoted(const std::string& text) {
  return "'" + text + "'";
}

const std::string kGroupFix =
    "the user fieldgate runs as must be in the 'gpio' group (sudo usermod -aG gpio USER, then "
    "restart fieldgate; the packaged service already has SupplementaryGroups=gpio)";

}  // namespace

std::string error_text(int error, const std::string& chip, std::optional<uint32_t> line,
                       const std::string& operation, uint32_t line_count) {
  const std::string what = line ? "line " + std::to_string(*line) + " of GPIO chip " + quoted(chip)
                                : "GPIO chip " + quoted(chip);
  switch (error) {
    case EACCES:
    case EPERM:
      return "permission denied to " + operation + " " + what + ": " + kGroupFix;
    case ENODEV:
      if (operation != "open") {
        return "GPIO chip " + quoted(chip) + " went away (unplugged, or its driver unloaded)";
      }
      [[fallthrough]];
    case ENOENT:
      if (operation == "open") {
        return "no GPIO chip " + quoted(chip) +
               " on this machine (`gpiodetect` lists the chips there are; set `chip` to one of "
               "them, e.g. \"gpiochip0\", or its path or label)";
      }
      break;
    case ENOTTY:
      if (operation == "open") {
        return quoted(chip) +
               " is not a GPIO chip (set `chip` to one `gpiodetect` lists, e.g. \"gpiochip0\")";
      }
      break;
    case EBUSY:
      return what + " is busy: another program holds it (`gpioinfo " + chip +
             "` names it as the consumer); stop that program or use another line";
    case EINVAL:
      if (operation == "request" && line && line_count > 0 && *line >= line_count) {
        return "GPIO chip " + quoted(chip) + " has no line " + std::to_string(*line) + " (it has " +
               std::to_string(line_count) + " lines, 0 to " + std::to_string(line_count - 1) +
               "; `gpioinfo " + chip + "` lists them)";
      }
      break;
    case EOPNOTSUPP:
      if (operation == "request") {
        return "cannot request " + what +
               " as configured: the kernel or the chip does not support it (bias needs Linux 5.5 "
               "or later; remove `bias` to leave the line's bias as it is)";
      }
      break;
    default:
      break;
  }
  return "cannot " + operation + " " + what + ": " + std::strerror(error);
}

}  // namespace fieldgate::gpio
