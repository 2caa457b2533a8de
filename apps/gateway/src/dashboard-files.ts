import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { RequestHandler } from 'express';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

interface DashboardFile {
  body: Buffer;
  contentType: string;
  etag: string;
}

function readDashboard(dir: string): Map<string, DashboardFile> {
  const files = new Map<string, DashboardFile>();
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const contentType = CONTENT_TYPES[extname(entry.name)];
    if (!entry.isFile() || contentType === undefined) continue;
    const body = readFileSync(join(dir, entry.name));
    files.set(entry.name, { body, contentType, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` });
  }
  return files;
}

/**
 * Serves the built dashboard (a flat folder of a few small files) from memory, read once it is
 * built: no file is opened per request. A file stream per request leaked its descriptor when the
 * request was pipelined behind others on a connection destroyed before its turn came.
 * Not built yet: passes every request on (and looks again at the next one).
 */
export function dashboardFiles(dir: string): RequestHandler {
  let files: Map<string, DashboardFile> | undefined;
  return (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (files === undefined && existsSync(join(dir, 'index.html'))) files = readDashboard(dir);
    const file = files?.get(req.path === '/' ? 'index.html' : req.path.slice(1));
    if (file === undefined) return next();
    res.setHeader('Content-Type', file.contentType);
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('ETag', file.etag);
    const known = req.headers['if-none-match'];
    if (known !== undefined && known.split(',').some((tag) => tag.trim().replace(/^W\//, '') === file.etag)) {
      res.status(304).end();
      return;
    }
    res.setHeader('Content-Length', file.body.length);
    res.status(200).end(req.method === 'HEAD' ? undefined : file.body);
  };
}
