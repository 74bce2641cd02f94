"""Classic-design MJPEG baseline, after Miguel Grinberg's "Video streaming with Flask".

Every viewer gets its own Camera and generator that paces itself and JPEG-encodes
every frame it sends. That per-viewer encode is the cost this baseline exists to
measure, so nothing is shared or cached between viewers.
"""
import sys

# gevent must patch socket/time/threading before anything else imports them, so
# argv is peeked at by hand here, before argparse/flask/cv2 are even loaded.
_argv = sys.argv[1:]
if ('--mode' in _argv and _argv[_argv.index('--mode') + 1:][:1] == ['gevent']) \
        or '--mode=gevent' in _argv:
    from gevent import monkey
    monkey.patch_all()

import argparse
import glob
import logging
import os
import signal
import time

import cv2
from flask import Flask, Response

p = argparse.ArgumentParser(description='classic per-viewer-encode MJPEG server')
p.add_argument('--port', type=int, required=True)
p.add_argument('--frames', required=True, help='directory of *.jpg stand-in camera frames')
p.add_argument('--fps', type=float, default=30.0)
p.add_argument('--mode', choices=['threaded', 'gevent'], default='threaded')
p.add_argument('--quality', type=int, default=80)
args = p.parse_args()

# Decoded BGR frames are what a real camera hands over; encoding is left to viewers.
paths = sorted(glob.glob(os.path.join(args.frames, '*.jpg')))
FRAMES = [f for f in (cv2.imread(x) for x in paths) if f is not None]
if not FRAMES:
    sys.exit(f'classic server: no readable *.jpg frames in {args.frames!r}')
FPS, QUALITY = args.fps, args.quality
T0 = time.time()  # shared clock so every viewer shows the same seq at the same instant


class Camera:
    """One per viewer, like the article's OpenCV camera that each client opens."""

    def __init__(self):
        self.last = -1

    def get_frame(self):
        while True:
            seq = int((time.time() - T0) * FPS)
            if seq > self.last:
                break
            # Tiny epsilon so float rounding cannot wake us just short of the boundary.
            time.sleep(max(0.0, T0 + (self.last + 1) / FPS - time.time()) + 1e-4)
        # A slow viewer jumps straight to the current seq: never repeats, may skip.
        self.last = seq
        ok, buf = cv2.imencode('.jpg', FRAMES[seq % len(FRAMES)],
                               [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
        return seq, T0 + seq / FPS, buf.tobytes()


def gen(camera):
    while True:
        seq, ts, jpeg = camera.get_frame()
        yield (b'--frame\r\nContent-Type: image/jpeg\r\nContent-Length: '
               + str(len(jpeg)).encode() + b'\r\nX-Timestamp: ' + f'{ts:.6f}'.encode()
               + b'\r\nX-Sequence: ' + str(seq).encode() + b'\r\n\r\n' + jpeg + b'\r\n')


app = Flask(__name__)


@app.route('/video_feed')
def video_feed():
    return Response(gen(Camera()), mimetype='multipart/x-mixed-replace; boundary=frame')


@app.route('/healthz')
def healthz():
    return 'ok'


def _exit(signum, frame):
    raise SystemExit(0)  # unwinds serve_forever so the socket is closed cleanly


def announce():
    print(f'classic server listening on http://127.0.0.1:{args.port} ({args.mode})', flush=True)


if args.mode == 'gevent':
    import gevent
    from gevent.pywsgi import WSGIServer
    server = WSGIServer(('127.0.0.1', args.port), app, log=None)
    server.start()  # bind before announcing, so a harness never races the listen()
    stop = lambda: server.stop(timeout=1)  # streams never end; cut them after 1 s
    gevent.signal_handler(signal.SIGTERM, stop)
    gevent.signal_handler(signal.SIGINT, stop)
    announce()
    server.serve_forever()
else:
    from werkzeug.serving import make_server
    logging.getLogger('werkzeug').setLevel(logging.ERROR)  # no per-request log lines
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    # Same werkzeug ThreadedWSGIServer that app.run(threaded=True) builds, but
    # made explicitly so the socket is bound before the ready line is printed.
    server = make_server('127.0.0.1', args.port, app, threaded=True)
    announce()
    try:
        server.serve_forever()
    finally:
        server.server_close()
