// The command line's commands and options, described once: per-command help, the
// global summary, the man page and the bash completion are all rendered from here,
// and the parser accepts for a command only the options listed for it.
#pragma once

#include <string>
#include <vector>

namespace cli {

struct OptionSpec {
  std::string flag;   // "--rules"
  std::string value;  // "PATH", or "" for a switch
  std::string help;   // one line
};

struct CommandSpec {
  std::string name;                   // "evaluate"
  std::string summary;                // one line, for the command list
  std::vector<std::string> synopsis;  // usage lines after `stimrank NAME`
  std::string description;            // a paragraph
  std::vector<OptionSpec> options;    // every option the command accepts
  std::vector<std::string> formats;   // --format values; the first is the default
  std::vector<std::string> examples;  // whole command lines
};

[[nodiscard]] const std::vector<CommandSpec>& commands();
[[nodiscard]] const CommandSpec* find_command(const std::string& name);
[[nodiscard]] const OptionSpec* find_option(const CommandSpec& command, const std::string& flag);

// "did you mean `x`?" for the closest of `candidates`, or "".
[[nodiscard]] std::string suggestion(const std::string& word,
                                     const std::vector<std::string>& candidates);

[[nodiscard]] std::string global_help();                             // stimrank --help
[[nodiscard]] std::string command_help(const CommandSpec& command);  // stimrank CMD --help
[[nodiscard]] std::string man_page(const std::string& version);      // roff, section 1
[[nodiscard]] std::string bash_completion();                         // a bash-completion script

}  // namespace cli
