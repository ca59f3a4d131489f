#pragma once
// A datagram BIO for OpenSSL DTLS without a socket (issue 13 §2): whole
// datagrams in, each write one datagram out, and the peer address answered to DTLS's
// BIO_dgram_get_peer/set_peer (DTLSv1_listen and the cookie callbacks need it). OpenSSL 3.0's
// memory BIO would merge datagrams; 3.2's BIO_s_dgram_mem is not in bookworm.

#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "dtls/dtls_options.hpp"

using BIO = struct bio_st;
using BIO_ADDR = union bio_addr_st;

namespace transports::dtls {

struct DatagramQueue {
  std::deque<Bytes> in;    // read by OpenSSL, one datagram per read
  std::vector<Bytes> out;  // written by OpenSSL, one datagram per write
  BIO_ADDR* peer = nullptr;  // owned by the queue's user; may be null
};

// A BIO over `queue`, which must outlive it. The BIO does not own the queue.
BIO* new_datagram_bio(DatagramQueue* queue);

}  // namespace transports::dtls
