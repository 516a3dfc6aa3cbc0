// Parses an AsyncAPI document with the AsyncAPI parser and prints every
// diagnostic; exits 1 when any has severity error (0), so CI fails on an
// invalid contract. Usage: node check.js ../asyncapi.yaml
'use strict';
const fs = require('fs');
const { Parser, DiagnosticSeverity } = require('@asyncapi/parser');

async function main() {
  const file = process.argv[2] || `${__dirname}/../asyncapi.yaml`;
  const { document, diagnostics } = await new Parser().parse(fs.readFileSync(file, 'utf8'));
  const names = ['error', 'warning', 'information', 'hint'];
  let errors = 0;
  for (const d of diagnostics) {
    if (d.severity === DiagnosticSeverity.Error) errors++;
    console.log(`${names[d.severity]} ${d.code} at ${d.path.join('.') || '(root)'}: ${d.message}`);
  }
  if (errors > 0 || !document) {
    console.log(`${file}: ${errors} error(s); not a valid AsyncAPI document`);
    process.exit(1);
  }
  console.log(`${file}: valid AsyncAPI ${document.version()}, ${document.channels().length} channels, ${document.operations().length} operations, ${document.components().messages().length} messages`);
}

main().catch((err) => { console.error(err); process.exit(1); });
