// Prints, for each query of a parser corpus, whether Grafana's LogQL grammar
// (@grafana/lezer-logql, installed in tests/clients) parses it without an error
// node: one "accept" or "reject" a line, in corpus order.
// usage: node lezer_verdicts.mjs <tests/clients directory> <corpus file>
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [clients, corpus] = process.argv.slice(2);
const entry = join(clients, 'node_modules', '@grafana', 'lezer-logql', 'index.es.js');
const { parser } = await import(pathToFileURL(entry).href);

const out = [];
for (const line of readFileSync(corpus, 'utf8').split('\n')) {
  if (line === '' || line.startsWith('#')) continue;
  const query = line.split('\t').pop();
  let error = false;
  parser.parse(query).iterate({
    enter: (node) => {
      if (node.type.isError) error = true;
    },
  });
  out.push(error ? 'reject' : 'accept');
}
process.stdout.write(out.join('\n') + '\n');
