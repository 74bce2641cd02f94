export { STREAM_BOUNDARY, encodePart, streamContentType, streamPreamble } from './writer.js';
export type { PartMeta } from './writer.js';
export { MultipartError, MultipartParser, boundaryOf } from './parser.js';
export type { MultipartErrorCode, ParserLimits, ParserOptions, Part } from './parser.js';
