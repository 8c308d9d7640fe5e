// SPDX-License-Identifier: Apache-2.0
// cfg/ast.cpp: the syntax tree's destructors, which free a tree of any depth without recursing.
#include "cfg/ast.hpp"

#include <utility>

namespace viaduct::cfg {

namespace {

// Frees `nodes`' subtrees through a work list: every node with children is moved to the list
// and its children taken from it before it is destroyed, so each destructor that runs sees
// leaves only (or moved-from nodes, whose `Member` vector is empty).
template <typename Node, std::vector<Node> Node::*Member>
void free_iteratively(std::vector<Node>& nodes) {
  std::vector<Node> pending;
  const auto take = [&pending](std::vector<Node>& v) {
    for (Node& n : v) {
      if (!(n.*Member).empty()) {
        pending.push_back(std::move(n));
      }
    }
  };
  take(nodes);
  while (!pending.empty()) {
    Node n = std::move(pending.back());
    pending.pop_back();
    take(n.*Member);
  }
}

}  // namespace

Expr::~Expr() {
  if (!kids.empty()) {
    free_iteratively<Expr, &Expr::kids>(kids);
  }
}

Stmt::~Stmt() {
  if (!body.empty()) {
    free_iteratively<Stmt, &Stmt::body>(body);
  }
}

}  // namespace viaduct::cfg
