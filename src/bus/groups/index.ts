export { createGroupManager, type GroupManager, type MemberHandle, type MemberSink, type GroupManagerOptions } from "./group-manager";
export { type DeadLetterEntry, type DeadLetters, groupDlqSubject } from "./dead-letters";
export { partitionConsumerName } from "./partition-consumer";
export type { Delivery, SettleResult } from "./types";
export { GroupAdmin, type GroupView, type PartitionView, type TenantScope } from "./group-admin";
