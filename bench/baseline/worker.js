// The original design, re-created for `python -m bench.compare` (issue #15, item 4).
//
// The seeds' worker: one BullMQ-for-Node Worker at concurrency 3. Each job (a customer message put on the
// queue by the webhook) does one database read (the conversation's persona), awaits the persona's human-like
// delay INSIDE the job (1-6 s by persona type and urgency, the legacy table of FACTS §P with the same ±15 %
// jitter as src/aibroker/domain/pacing.py, NOT clipped to the SLA, as the seeds did), then POSTs the reply
// to an HTTP endpoint (here a local sink that stamps its receipt time). No LLM: the reply is a template.
//
// Configured only through the environment:
//   REDIS_URL       redis://host:port/db
//   QUEUE_PREFIX    BullMQ key prefix (default "bull")
//   QUEUE_NAME      the queue (default "baseline")
//   DATABASE_URL    sqlite:///abs/path.db (read with better-sqlite3) or postgresql://... (read with pg)
//   SINK_URL        where replies are POSTed
//   CONCURRENCY     default 3, the seeds' value
'use strict';

const { Worker } = require('bullmq');

const DELAYS_MS = { aggressive: [2000, 1000], balanced: [4000, 2000], conservative: [6000, 3000] };
const PERSONA_TYPES = {
  'Michelle Chen': 'aggressive', 'Jasmine Lee': 'aggressive', 'Rachel Tan': 'balanced',
  'Sarah Wong': 'balanced', 'Grace Lim': 'conservative',
};
// The legacy urgency test: substrings, so "now" also matches "know" (FACTS §P).
const URGENT_WORDS = ['urgent', 'asap', 'now', 'today', 'immediately', 'quickly', 'deadline'];
const JITTER = 0.15;

function redisConnection(url) {
  const parsed = new URL(url);
  return {
    host: parsed.hostname, port: Number(parsed.port || 6379),
    db: Number((parsed.pathname || '/0').slice(1) || 0),
    password: parsed.password || undefined, maxRetriesPerRequest: null,
  };
}

// One read per job: the conversation's persona. Returns async (conversationId) => personaName.
function personaReader(databaseUrl) {
  if (databaseUrl.startsWith('sqlite:')) {
    const Database = require('better-sqlite3');
    const db = new Database(databaseUrl.replace(/^sqlite:\/\/\//, ''), { readonly: true, fileMustExist: true });
    const query = db.prepare('SELECT persona_name FROM conversations WHERE id = ?');
    return async (id) => (query.get(id) || {}).persona_name;
  }
  const { Pool } = require('pg');
  const pool = new Pool({ connectionString: databaseUrl.replace(/^postgresql\+\w+:/, 'postgresql:'), max: 3 });
  return async (id) => {
    const result = await pool.query('SELECT persona_name FROM conversations WHERE id = $1', [id]);
    return result.rows.length ? result.rows[0].persona_name : undefined;
  };
}

function delayMs(personaName, text) {
  const [calm, urgent] = DELAYS_MS[PERSONA_TYPES[personaName] || 'balanced'];
  const lower = text.toLowerCase();
  const base = URGENT_WORDS.some((word) => lower.includes(word)) ? urgent : calm;
  return Math.max(0, Math.round(base * (1 + JITTER * (2 * Math.random() - 1))));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const readPersona = personaReader(process.env.DATABASE_URL);
  const sinkUrl = process.env.SINK_URL;
  const worker = new Worker(process.env.QUEUE_NAME || 'baseline', async (job) => {
    const { conversationId, content } = job.data;
    const persona = await readPersona(conversationId);
    await sleep(delayMs(persona, content));
    const reply = `Hi, ${persona || 'your broker'} here. Thanks for asking: "${content}". Let me walk you through it.`;
    const response = await fetch(sinkUrl, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jobId: job.id, conversationId, reply }),
    });
    if (!response.ok) throw new Error(`sink answered ${response.status}`);
  }, {
    connection: redisConnection(process.env.REDIS_URL), prefix: process.env.QUEUE_PREFIX || 'bull',
    concurrency: Number(process.env.CONCURRENCY || 3),
  });
  worker.on('failed', (job, error) => console.error(`job ${job && job.id} failed: ${error.message}`));
  await worker.waitUntilReady();
  console.log('baseline worker ready');
  const stop = async () => { await worker.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error) => { console.error(error); process.exit(1); });
