// Upload one file with tus-js-client under Node; options as JSON in argv[2].
// Prints one JSON line: {"url": ..., "resumedFrom": <offset or null>, "aborted": bool}.
import fs from 'node:fs'
import { Upload, FileUrlStorage } from 'tus-js-client'

const opts = JSON.parse(process.argv[2])
const data = fs.readFileSync(opts.file)
const result = { url: null, resumedFrom: null, aborted: false }

const upload = new Upload(data, {
  endpoint: opts.endpoint,
  headers: { Authorization: `Bearer ${opts.token}` },
  metadata: opts.metadata || { filename: 'clip.mp4', filetype: 'video/mp4' },
  chunkSize: opts.chunkSize || Infinity,
  parallelUploads: opts.parallelUploads || 1,
  uploadLengthDeferred: !!opts.uploadLengthDeferred,
  uploadDataDuringCreation: !!opts.uploadDataDuringCreation,
  urlStorage: opts.urlStorage ? new FileUrlStorage(opts.urlStorage) : undefined,
  storeFingerprintForResuming: !!opts.urlStorage,
  removeFingerprintOnSuccess: false,
  retryDelays: [0, 200, 500],
  onUploadUrlAvailable () { result.url = upload.url },
  onProgress (sent) {
    if (opts.abortAfter && sent >= opts.abortAfter && !result.aborted) {
      result.aborted = true
      // The "interruption": this process stops and exits; another one resumes.
      upload.abort().then(() => { console.log(JSON.stringify(result)); process.exit(0) })
    }
  },
  onError (err) { console.error(String(err)); process.exit(1) },
  onSuccess () { result.url = upload.url; console.log(JSON.stringify(result)); process.exit(0) }
})

if (opts.resume) {
  const previous = await upload.findPreviousUploads()
  if (previous.length === 0) { console.error('no previous upload to resume'); process.exit(2) }
  result.resumedFrom = previous[0].uploadUrl
  upload.resumeFromPreviousUpload(previous[0])
}
upload.start()
