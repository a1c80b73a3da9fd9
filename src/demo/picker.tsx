/** "Who are you?": one button per demo climber. */
import type { DemoUser } from "./access.ts";
import { hueOf, initialOf, shortName } from "./format.ts";

export function Picker({ users, problem, onPick }: { users: DemoUser[]; problem: string | null; onPick(user: DemoUser): void }) {
  return (
    <section id="picker" className="picker">
      <div className="brand">
        <span className="brand-mark" aria-hidden="true">
          🧗
        </span>{" "}
        Send Buddy
      </div>
      <h1>Who are you?</h1>
      <p className="lead">Open this page in two windows, one as each climber, and chat between them.</p>
      <div id="choices" className="choices">
        {users.map((user) => (
          <button
            key={user.id}
            type="button"
            className="choice"
            data-user={shortName(user.name).toLowerCase()}
            onClick={() => onPick(user)}
          >
            <span className="avatar" style={{ "--hue": hueOf(user.id) } as React.CSSProperties} aria-hidden="true">
              {initialOf(user.name)}
            </span>
            <span className="choice-name">{shortName(user.name)}</span>
            <span className="choice-hint">Continue →</span>
          </button>
        ))}
      </div>
      {problem && (
        <p id="picker-error" className="picker-error" role="alert">
          {problem}
        </p>
      )}
      <p className="fine-print">
        Development demo: the accounts come from <code>POST /dev/demo</code> on this machine.
      </p>
    </section>
  );
}
