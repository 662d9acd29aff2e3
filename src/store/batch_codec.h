// The byte form of committed WriteBatches, for the log of commits that
// other nodes follow (docs/cluster.md, "The log of record"). Every field of
// every Mutation is kept (Message::nonce included: other nodes build the
// MESSAGE_CREATE that carries it), so that decoding gives back batches equal
// to the ones encoded.
//
// Format, version 1: byte 1; varint batch count; per batch a varint
// mutation count; per mutation a varint tag (its index in Mutation) and its
// fields in declaration order: unsigned integers as varints, signed ones as
// zigzag varints, bools as one byte, strings and lists as a varint length
// and their bytes or items, token hashes as 32 raw bytes.
// Version 2 (what EncodeBatches writes for entries of 256 bytes or more
// that shrink): byte 2, a varint of the size of the version-1 encoding,
// then that encoding as one LZ4 block. Both decode.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/types.h"
#include "util/status.h"

namespace parley {

// Appends the encoding of `batches` to *out.
void EncodeBatches(std::span<const WriteBatch* const> batches, std::string* out);

// Decodes what EncodeBatches wrote into *out (replacing its contents).
// Truncated, overlong or unknown input (another version, an unknown tag, a
// length past the end) is Status::Corruption, never a crash or an
// allocation larger than the input.
Status DecodeBatches(std::string_view in, std::vector<WriteBatch>* out);

}  // namespace parley
