// SPDX-License-Identifier: Apache-2.0
// control/management.hpp: the transports of the management API. JSON-RPC 2.0 over HTTP POST
// (civetweb; on "/RPC", as Kamailio's jsonrpcs under xhttp, and on "/") and over a unix datagram
// socket (jsonrpcs' "dgram" transport, which kamcli's `transport=socket` speaks). The server
// threads never touch the daemon: they hand each request to the control thread through an
// RpcInbox and wait for its answer.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "cfg/result.hpp"
#include "control/rpc.hpp"

struct mg_context;
struct mg_connection;

namespace viaduct::ctl {

// Requests from the server threads to the control thread, answers back.
class RpcInbox {
 public:
  // Server threads: queues `request` and waits up to `timeout` for the answer.
  RpcReply call(std::string request, std::chrono::milliseconds timeout);

  // Control thread, once per loop iteration: answers every queued request with `serve`.
  void serve(const std::function<RpcReply(std::string_view)>& serve);

  // Control thread, at shutdown: answers what is queued, and everything later, with an error.
  void close();

 private:
  struct Pending {
    std::string request;
    std::promise<RpcReply> reply;
  };
  std::mutex mu_;  // guards the two members below; server threads vs the control thread
  std::deque<std::shared_ptr<Pending>> queue_;
  bool closed_ = false;
};

// The listeners. Starting binds (so a taken port fails start-up); the destructor stops the
// threads and removes the socket file.
class ManagementServer {
 public:
  // `http_listen`: "host:port", "" for none. `socket_path`: a unix datagram socket, "" for none.
  static Result<std::unique_ptr<ManagementServer>> start(const std::string& http_listen,
                                                         const std::string& socket_path,
                                                         RpcInbox& inbox);
  ~ManagementServer();
  ManagementServer(const ManagementServer&) = delete;
  ManagementServer& operator=(const ManagementServer&) = delete;

 private:
  explicit ManagementServer(RpcInbox& inbox) : inbox_(inbox) {}
  static int on_http(mg_connection* conn, void* self);
  void datagram_loop();

  RpcInbox& inbox_;
  mg_context* http_ = nullptr;
  std::string http_listen_;  // for stop_listener
  int dgram_fd_ = -1;
  std::string dgram_path_;
  dev_t dgram_dev_ = 0;  // the socket file we bound: the destructor removes that one only
  ino_t dgram_ino_ = 0;
  std::atomic<bool> stop_{false};
  std::thread dgram_thread_;
};

}  // namespace viaduct::ctl
