// A circular doubly linked intrusive list node. The head is a node linked to
// itself; an element's node points back at its owner. Whoever owns the
// list states which lock guards it.
#pragma once

namespace memcg::detail {

struct ListNode {
  ListNode* next = this;
  ListNode* prev = this;
  void* owner = nullptr;  // the object this node is embedded in (null for heads)

  bool empty() const noexcept { return next == this; }
  bool linked() const noexcept { return next != this; }
  void push_back(ListNode* n) noexcept {
    n->prev = prev;
    n->next = this;
    prev->next = n;
    prev = n;
  }
  void unlink() noexcept {
    prev->next = next;
    next->prev = prev;
    next = prev = this;
  }
};

}  // namespace memcg::detail
