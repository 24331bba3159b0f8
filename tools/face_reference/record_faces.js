// Records what @vladmandic/face-api itself finds on its sample images: tiny face
// detector boxes and the 68 landmarks of both landmark nets, in image pixels.
// Runs on the pure-JS tfjs CPU backend. JPEGs are decoded by @jsquash/jpeg, the
// libjpeg-turbo (mozjpeg) decoder compiled to WebAssembly: the same decoder mmgen
// links, so both sides see identical pixels (a pure-JS decoder such as jpeg-js
// differs by a level here and there, which moves weak faces' landmarks by pixels).
//
//   npm ci && node record_faces.js [output.json]
//
// The output is the reference the C++ implementation is tested against
// (tests/data/faces/face_api_reference.json).
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

// The detector settings the reference is recorded with (face-api's defaults).
const kInputSize = 416;
const kScoreThreshold = 0.5;

const packageDir = path.dirname(require.resolve('@vladmandic/face-api/package.json'));
const modelDir = path.join(packageDir, 'model');
const sampleDir = path.join(packageDir, 'demo');
const samples = ['sample1.jpg', 'sample2.jpg', 'sample3.jpg', 'sample4.jpg', 'sample5.jpg', 'sample6.jpg'];

let jpegDecode;
async function loadJpegDecoder() {
  const { default: decode, init } = await import('@jsquash/jpeg/decode.js');
  const wasmPath = require.resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm');
  await init(await WebAssembly.compile(fs.readFileSync(wasmPath)));
  jpegDecode = decode;
}

async function decodeJpeg(file) {
  const bytes = fs.readFileSync(file);
  const rgba = await jpegDecode(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  const rgb = new Int32Array(rgba.width * rgba.height * 3);
  for (let i = 0; i < rgba.width * rgba.height; i++) {
    rgb[3 * i] = rgba.data[4 * i];
    rgb[3 * i + 1] = rgba.data[4 * i + 1];
    rgb[3 * i + 2] = rgba.data[4 * i + 2];
  }
  return tf.tensor3d(rgb, [rgba.height, rgba.width, 3], 'int32');
}

// A flat grey picture: the detector must find nothing in it.
function greyImage(width, height) {
  return tf.fill([height, width, 3], 128, 'int32');
}

function jsquashVersion() {
  const dir = path.dirname(require.resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm'));
  return JSON.parse(fs.readFileSync(path.join(dir, '..', '..', 'package.json'), 'utf8')).version;
}

const round3 = (v) => Math.round(v * 1000) / 1000;
const points = (landmarks) => landmarks.positions.map((p) => [round3(p.x), round3(p.y)]);

async function analyse(name, image) {
  const options = new faceapi.TinyFaceDetectorOptions({ inputSize: kInputSize, scoreThreshold: kScoreThreshold });
  const full = await faceapi.detectAllFaces(image, options).withFaceLandmarks(false);
  const tiny = await faceapi.detectAllFaces(image, options).withFaceLandmarks(true);
  const faces = full.map((res, i) => ({
    score: round3(res.detection.score),
    box: {
      left: round3(res.detection.box.left),
      top: round3(res.detection.box.top),
      right: round3(res.detection.box.right),
      bottom: round3(res.detection.box.bottom),
    },
    landmarks68: points(res.landmarks),
    landmarks68_tiny: points(tiny[i].landmarks),
  }));
  const [height, width] = image.shape;
  return { image: name, width, height, faces };
}

async function main() {
  await loadJpegDecoder();
  await tf.setBackend('cpu');
  await tf.ready();
  await faceapi.nets.tinyFaceDetector.loadFromDisk(modelDir);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(modelDir);
  await faceapi.nets.faceLandmark68TinyNet.loadFromDisk(modelDir);

  const images = [];
  for (const sample of samples) {
    const image = await decodeJpeg(path.join(sampleDir, sample));
    images.push(await analyse(sample, image));
    tf.dispose(image);
  }
  const grey = greyImage(320, 240);
  images.push(await analyse('grey-320x240', grey));
  tf.dispose(grey);

  const pkg = JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8'));
  const result = {
    generator: 'tools/face_reference/record_faces.js',
    face_api_version: pkg.version,
    tfjs_version: tf.version_core,
    backend: tf.getBackend(),
    jpeg_decoder: `@jsquash/jpeg ${jsquashVersion()} (mozjpeg, WebAssembly)`,
    detector: { input_size: kInputSize, score_threshold: kScoreThreshold },
    images,
  };
  const out = process.argv[2] || 'face_api_reference.json';
  // One line per point keeps the file short and diffable.
  const text = JSON.stringify(result, null, 1).replace(/\[\s+(-?[\d.e+-]+),\s+(-?[\d.e+-]+)\s+\]/g, '[$1, $2]');
  fs.writeFileSync(out, `${text}\n`);
  for (const img of images) {
    console.log(`${img.image}: ${img.faces.length} face(s)`);
  }
}

main().catch((err) => { console.error(err); process.exit(1); });
