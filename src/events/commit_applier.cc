#include "events/commit_applier.h"

#include <variant>

#include "events/event_builder.h"

namespace parley::events {

void CommitApplier::Apply(const WriteBatch& batch, uint64_t position) {
  if (sink_ == nullptr) return state_->Apply(batch);
  CommitPlan plan = PlanEvents(*state_, batch);
  state_->Apply(batch);
  EventBatch events = BuildEvents(*state_, batch, plan);
  // A member who joins while online: the guild learns their presence.
  if (presence_ != nullptr) {
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto* put = std::get_if<mut::PutMember>(&batch[i]);
      if (put == nullptr || plan.items[i].existed) continue;
      if (auto p = presence_->Get(put->member.user_id))
        events.push_back(BuildPresenceEvent(put->member.user_id, put->member.guild_id, *p));
    }
  }
  sink_->PublishCommitted(std::move(events), position);
}

}  // namespace parley::events
