// log/reader_impl.h — the LogReader implementation, shared by the writer's
// in-process readers and the read-only directory reader.
#ifndef QUIPU_LOG_READER_IMPL_H_
#define QUIPU_LOG_READER_IMPL_H_

#include <memory>
#include <string>
#include <vector>

#include "log/segment_scan.h"
#include "quipu/env.h"
#include "quipu/reader.h"

namespace quipu {

// Where a reader learns which segments exist and how far it may read.
class ReadSource {
 public:
  virtual ~ReadSource() = default;
  // The segments in LSN order and the last LSN that may be read now.
  virtual Status View(std::vector<SegmentRef>* segments, Lsn* readable) = 0;
  // Live: bytes past `readable` may be a write in progress, so they are never
  // judged. Not live: the files are all there is, and a torn tail of the
  // newest segment is the end.
  virtual bool live() const = 0;
  // OK while the source can be read; an error ends the reader (a live
  // source whose log was closed).
  virtual Status Usable() const { return Status::OK(); }
};

std::unique_ptr<LogReader> NewLogReader(Env* env, std::string dir,
                                        std::unique_ptr<ReadSource> source, Lsn from);

}  // namespace quipu

#endif  // QUIPU_LOG_READER_IMPL_H_
