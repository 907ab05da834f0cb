// Starts `stimrank lsp` (the setting stimrank.path) for .rules files and for the
// vignette test files of a rule set (tests/*.json), and runs a test case when its
// "run this case" lens is clicked (the server executes it and shows the outcome).
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const settings = vscode.workspace.getConfiguration("stimrank");
  const command = settings.get("path", "stimrank");
  const debounce = String(settings.get("debounceMs", 150));
  const server = { command, args: ["lsp", "--debounce", debounce] };
  client = new LanguageClient(
    "stimrank",
    "stimrank language server",
    { run: server, debug: server },
    {
      documentSelector: [
        { scheme: "file", language: "stimrank" },
        { scheme: "file", language: "json", pattern: "**/tests/*.json" },
      ],
      synchronize: {
        fileEvents: vscode.workspace.createFileSystemWatcher("**/*.rules"),
      },
    }
  );
  context.subscriptions.push(client);
  client.start().catch((error) => {
    vscode.window.showErrorMessage(
      `stimrank: cannot start \`${command} lsp\` (${error.message}); set stimrank.path to the stimrank program`
    );
  });
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
