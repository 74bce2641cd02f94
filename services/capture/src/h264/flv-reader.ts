/**
 * FFmpeg's FLV output of an H.264 encode, read as it comes. FLV frames every packet by its
 * length, and FFmpeg writes each as soon as the encoder hands it over, so a frame is complete
 * the moment its tag is: unlike MP4's fragments, nothing waits for the next frame to learn this
 * one's duration. What it carries is what fragmented MP4 needs: the decoder configuration (the
 * avcC record, in the first video tag) and each frame's NAL units, length-prefixed as in MP4.
 * (Adobe's FLV specification 10.1, "VIDEODATA" and "AVCVIDEOPACKET".)
 */
import { EnvelopeError } from '@camrelay/frame';

const FILE_HEADER_BYTES = 9 + 4; // the header, then PreviousTagSize0
const TAG_HEADER_BYTES = 11;
const VIDEO_TAG = 9;
const CODEC_AVC = 7;
const FRAME_TYPE_KEY = 1;
const AVC_SEQUENCE_HEADER = 0;
const AVC_NALU = 1;

export class FlvReader {
  private pending: Buffer = Buffer.alloc(0);
  private headerRead = false;

  constructor(
    private readonly onConfig: (avcC: Buffer) => void,
    private readonly onFrame: (keyframe: boolean, nalUnits: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    if (!this.headerRead) {
      if (this.pending.length < FILE_HEADER_BYTES) return;
      if (this.pending.toString('latin1', 0, 3) !== 'FLV') throw new EnvelopeError('bad_segment', 'not FLV: no FLV signature');
      this.pending = this.pending.subarray(FILE_HEADER_BYTES);
      this.headerRead = true;
    }
    while (this.pending.length >= TAG_HEADER_BYTES) {
      const size = this.pending.readUIntBE(1, 3);
      const end = TAG_HEADER_BYTES + size + 4; // the tag, then PreviousTagSize
      if (this.pending.length < end) return;
      if (this.pending[0] === VIDEO_TAG) this.videoTag(this.pending.subarray(TAG_HEADER_BYTES, TAG_HEADER_BYTES + size));
      this.pending = this.pending.subarray(end);
    }
  }

  /** FrameType and CodecID, AVCPacketType, CompositionTime (0: no B-frames), then the data. */
  private videoTag(data: Buffer): void {
    if (data.length < 5 || (data[0]! & 0x0f) !== CODEC_AVC) throw new EnvelopeError('bad_segment', 'an FLV video tag that is not H.264');
    const keyframe = data[0]! >> 4 === FRAME_TYPE_KEY;
    const body = Buffer.from(data.subarray(5)); // its own bytes: the stream's buffer moves on
    if (data[1] === AVC_SEQUENCE_HEADER) this.onConfig(body);
    else if (data[1] === AVC_NALU && body.length > 0) this.onFrame(keyframe, body);
  }
}
