import { ErrorRequestHandler, RequestHandler } from 'express';
import { HttpProblem, sendProblem } from './problem';

interface BodyParserError extends Error {
  type?: string;
  status?: number;
  limit?: number;
}

/** Turns every error into a problem+json answer: body-parser's own, HttpProblem, and the unexpected (logged). */
export function problemErrorHandler(logUnexpected: (error: Error) => void): ErrorRequestHandler {
  return (error: BodyParserError, _req, res, _next) => {
    if (error instanceof HttpProblem) return sendProblem(res, error);
    switch (error.type) {
      case 'entity.parse.failed':
        return sendProblem(res, new HttpProblem(400, `the body is not valid JSON: ${error.message}`));
      case 'entity.too.large':
        return sendProblem(res, new HttpProblem(413, `the request body is over the limit of ${error.limit} bytes`));
      case 'encoding.unsupported':
      case 'charset.unsupported':
        return sendProblem(res, new HttpProblem(415, error.message));
    }
    // Other client errors raised by the framework (the router's URIError for a malformed
    // percent-encoding in a path parameter carries status 400): the client's fault, not a 500.
    const status = error.status ?? (error as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500) return sendProblem(res, new HttpProblem(status, error.message));
    logUnexpected(error);
    return sendProblem(res, new HttpProblem(500, 'an unexpected error occurred; it has been logged'));
  };
}

export const notFoundHandler: RequestHandler = (req, res) =>
  sendProblem(res, new HttpProblem(404, `no route for ${req.method} ${req.path}`));
