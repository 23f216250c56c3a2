import type { Logger } from "pino";
import { ErrorCode, GatewayError, type GroupSpec } from "../../domain";
import type { Bus } from "../connection";
import { EVENTS_STREAM } from "../streams";
import { GroupCatalog, inScope, tenantsOf, type GroupRecord, type RecordAt } from "./group-catalog";
import { GROUPS_BUCKET, MEMBERS_BUCKET } from "./kv-stores";
import { LEASES_BUCKET } from "./lease-store";
import { createParkStore } from "./park-store";
import { SETTLED_BUCKET } from "./settled-log";
import { GROUP_CONSUMER, partitionConsumerName } from "./partition-consumer";

/** A group as the admin RPCs report it. */
export interface GroupView {
  record: GroupRecord;
  state: "active" | "idle" | "deleting";
  /** Members per gateway id. */
  gateways: Map<string, number>;
  members: number;
  /** Stored and not acked, over every partition. */
  lag: number;
  lastActiveMs: number;
}

export interface PartitionView {
  partition: number;
  owner?: string;
  epoch: number;
  pending: number;
  ackPending: number;
  redelivered: number;
  ackFloor: number;
  consumerExists: boolean;
}

/** The tenants a caller may act for; undefined for every tenant. */
export type TenantScope = ReadonlySet<string> | undefined;

export interface GroupAdminOptions {
  bus: Bus;
  partitions: number;
  leaseTtlMs: number;
  /** Most groups per tenant; opening one more is refused. */
  maxPerTenant: number;
  /** Idle time after which a group is deleted; 0 keeps idle groups forever. */
  idleExpiryMs: number;
  logger: Logger;
}

/** How often a connected group's last-active time is written: a bound on its error. */
export function touchEveryMs(idleExpiryMs: number): number {
  return idleExpiryMs > 0 ? Math.min(Math.max(Math.floor(idleExpiryMs / 4), 250), 60_000) : 60_000;
}

const sum = (m: Map<string, number> | undefined): number => [...(m?.values() ?? [])].reduce((a, b) => a + b, 0);
const lastActive = (r: GroupRecord): number => r.lastActiveMs ?? r.createdAtMs;

/**
 * Lists, describes and deletes groups from their KV records and consumers, and admits
 * new groups up to the per-tenant bound.
 *
 * Deleting is safe with several gateways because it starts with a compare-and-set: the
 * record is marked `deletingSinceMs` at the revision the deleter read, so of two deleters
 * (or an idle sweep racing a member's open, which rewrites the record) exactly one wins.
 * From the mark on, opening the group is refused and every gateway ends its members of
 * it; the consumers, leases, member entries and, last, the record are then removed. Each
 * step is idempotent, so a deletion cut short is finished by the next sweep.
 */
export class GroupAdmin {
  readonly catalog: GroupCatalog;
  /** Ends this gateway's members of a deleted group; set by the group manager. */
  evictLocal: (group: string) => void = () => undefined;
  private readonly log: Logger;

  constructor(private readonly o: GroupAdminOptions) {
    this.catalog = new GroupCatalog(o.bus);
    this.log = o.logger.child({ component: "group-admin" });
  }

  /** Called before a member opens `spec`: refuses a group being deleted, or one past the bound; records activity. */
  async admit(spec: GroupSpec): Promise<void> {
    for (let i = 0; i < 5; i++) {
      const at = await this.catalog.record(spec.name);
      if (!at) return this.checkBound(spec);
      if (at.record.deletingSinceMs) {
        throw new GatewayError(ErrorCode.Unavailable, `group ${spec.name} is being deleted; open it again in a few seconds to create it anew`, "open.group");
      }
      const now = Date.now();
      // The write also fences an idle sweep that read the record before it.
      if (now - lastActive(at.record) < touchEveryMs(this.o.idleExpiryMs) / 2) return;
      if (await this.catalog.update(spec.name, { ...at.record, lastActiveMs: now }, at.revision)) return;
    }
  }

  /** Records that a member was here just now: this gateway's last member of the group left. */
  async touch(name: string): Promise<void> {
    const at = await this.catalog.record(name);
    if (at && !at.record.deletingSinceMs) await this.catalog.update(name, { ...at.record, lastActiveMs: Date.now() }, at.revision);
  }

  private async checkBound(spec: GroupSpec): Promise<void> {
    const records = (await this.catalog.records()).filter((r) => !r.record.deletingSinceMs);
    const wanted = tenantsOf(spec);
    for (const tenant of wanted === "*" ? ["*"] : wanted) {
      const count = records.filter((r) => {
        const t = tenantsOf(r.record);
        return tenant === "*" ? t === "*" : t !== "*" && t.includes(tenant);
      }).length;
      if (count >= this.o.maxPerTenant) {
        const who = tenant === "*" ? `${count} consumer groups read every tenant` : `tenant ${tenant} already has ${count} consumer groups`;
        throw new GatewayError(
          ErrorCode.ResourceExhausted,
          `${who}, the most allowed (GATEWAY_GROUP_MAX_PER_TENANT=${this.o.maxPerTenant}): ` +
            "delete groups no longer used (DeleteGroup, or `engage-gateway groups delete <name>`) or join an existing group",
          "open.group",
        );
      }
    }
  }

  /** The groups in scope, by name, with members and lag. */
  async list(scope: TenantScope, tenant?: string): Promise<GroupView[]> {
    const [records, members, lags] = await Promise.all([this.catalog.records(), this.catalog.members(), this.lags()]);
    return records
      .filter((r) => inScope(r.record, scope))
      .filter((r) => {
        const t = tenantsOf(r.record);
        return !tenant || (t !== "*" && t.includes(tenant));
      })
      .map((r) => this.view(r.record, members.get(r.record.name), lags.get(r.record.name) ?? 0))
      .sort((a, b) => a.record.name.localeCompare(b.record.name));
  }

  /** `shown` is the name the caller knows the group by, for its error messages. */
  async describe(name: string, scope: TenantScope, shown = name): Promise<{ group: GroupView; partitions: PartitionView[] }> {
    const at = await this.find(name, scope, shown);
    const [members, leases] = await Promise.all([this.catalog.members(name), this.catalog.leases(name)]);
    const partitions = await Promise.all(
      Array.from({ length: this.o.partitions }, async (_, p): Promise<PartitionView> => {
        const lease = leases.get(p);
        const base = { partition: p, owner: lease?.holder, epoch: lease?.epoch ?? 0 };
        try {
          const c = await this.o.bus.jsm.consumers.info(EVENTS_STREAM, partitionConsumerName(name, p));
          return { ...base, pending: c.num_pending, ackPending: c.num_ack_pending, redelivered: c.num_redelivered, ackFloor: c.ack_floor.stream_seq, consumerExists: true };
        } catch {
          return { ...base, pending: 0, ackPending: 0, redelivered: 0, ackFloor: 0, consumerExists: false };
        }
      }),
    );
    const lag = partitions.reduce((a, p) => a + p.pending + p.ackPending, 0);
    return { group: this.view(at.record, members.get(name), lag), partitions };
  }

  /**
   * Deletes a group in scope. Refused while members are connected unless `force`.
   * Resolves once the consumers, leases, member entries and record are gone.
   */
  async delete(name: string, scope: TenantScope, force: boolean, shown = name): Promise<{ consumersDeleted: number; membersDisconnected: number }> {
    for (let attempt = 0; ; attempt++) {
      const at = await this.find(name, scope, shown);
      const members = sum((await this.catalog.members(name)).get(name));
      if (!at.record.deletingSinceMs) {
        if (members > 0 && !force) {
          throw new GatewayError(
            ErrorCode.FailedPrecondition,
            `group ${shown} has ${members} member${members === 1 ? "" : "s"} connected; stop them first, or delete with force to disconnect them`,
            "group",
          );
        }
        if (!(await this.mark(at))) {
          if (attempt < 3) continue;
          throw new GatewayError(ErrorCode.Unavailable, `group ${shown} changed while it was being deleted; try again`);
        }
      }
      return { consumersDeleted: await this.finish(name), membersDisconnected: members };
    }
  }

  /** Deletes the group if `at` is still its current record (the idle sweep); false when another writer won. */
  async expire(at: RecordAt): Promise<boolean> {
    if (!(await this.mark(at))) return false;
    this.log.info({ group: at.record.name, lastActiveMs: lastActive(at.record) }, "deleting an idle group");
    await this.finish(at.record.name);
    return true;
  }

  private async mark(at: RecordAt): Promise<boolean> {
    return (await this.catalog.update(at.record.name, { ...at.record, deletingSinceMs: Date.now() }, at.revision)) !== undefined;
  }

  /**
   * Removes what a marked group left. Its members are ended first (here at once, on other
   * gateways at their next check), and their gateways release the leases; the wait for
   * that is bounded, since a gateway that stopped answering cannot be waited for.
   */
  async finish(name: string): Promise<number> {
    this.evictLocal(name);
    const deadline = Date.now() + this.o.leaseTtlMs + 3_000;
    while (Date.now() < deadline) {
      const [members, leases] = await Promise.all([this.catalog.members(name), this.catalog.leases(name)]);
      if (members.size === 0 && leases.size === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    let deleted = 0;
    for (let p = 0; p < this.o.partitions; p++) if (await this.deleteConsumer(partitionConsumerName(name, p))) deleted++;
    await this.catalog.erase(LEASES_BUCKET, `${name}.>`);
    await this.catalog.erase(MEMBERS_BUCKET, `${name}.>`);
    // What the group settled (see settled-log.ts): a new group of the name starts clean.
    await this.catalog.erase(SETTLED_BUCKET, `${name}.>`);
    // Its parked chats' events (see chat-parking.ts): nobody will deliver them any more.
    await createParkStore(this.o.bus).forget(name);
    await this.catalog.erase(GROUPS_BUCKET, name);
    this.log.info({ group: name, consumersDeleted: deleted }, "group deleted");
    return deleted;
  }

  /**
   * Deletes partition consumers whose group has no record. A consumer is created only
   * after its group's record, so reading the consumers before the records cannot take a
   * group being created for an orphan.
   */
  async deleteOrphans(): Promise<void> {
    const names: string[] = [];
    for await (const c of this.o.bus.jsm.consumers.list(EVENTS_STREAM)) if (GROUP_CONSUMER.test(c.name)) names.push(c.name);
    if (names.length === 0 || !(await this.catalog.bucket(GROUPS_BUCKET))) return;
    const known = new Set((await this.catalog.records()).map((r) => r.record.name));
    for (const n of names) {
      const group = GROUP_CONSUMER.exec(n)![1];
      if (!known.has(group) && (await this.deleteConsumer(n))) this.log.info({ consumer: n }, "deleted the consumer of a deleted group");
    }
  }

  private async deleteConsumer(name: string): Promise<boolean> {
    try {
      return await this.o.bus.jsm.consumers.delete(EVENTS_STREAM, name);
    } catch (err) {
      if (/consumer not found/i.test(String((err as Error).message))) return false;
      throw err;
    }
  }

  private async find(name: string, scope: TenantScope, shown: string): Promise<RecordAt> {
    const at = await this.catalog.record(name);
    // Another tenant's group answers as a missing one: its existence is not the caller's to know.
    if (!at || !inScope(at.record, scope)) throw new GatewayError(ErrorCode.NotFound, `no group ${JSON.stringify(shown)} among the groups this key may manage`, "group");
    return at;
  }

  private async lags(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for await (const c of this.o.bus.jsm.consumers.list(EVENTS_STREAM)) {
      const m = GROUP_CONSUMER.exec(c.name);
      if (m) out.set(m[1], (out.get(m[1]) ?? 0) + c.num_pending + c.num_ack_pending);
    }
    return out;
  }

  private view(record: GroupRecord, gateways: Map<string, number> | undefined, lag: number): GroupView {
    const members = sum(gateways);
    const state = record.deletingSinceMs ? "deleting" : members > 0 ? "active" : "idle";
    return { record, state, gateways: gateways ?? new Map(), members, lag, lastActiveMs: lastActive(record) };
  }
}
