import { fmtBytes, fmtNum } from '../format.js';

/** The heaviest flows right now (from /ws/flows, every second). */
export function Flows({ flows }) {
  return (
    <section class="panel flows">
      <header>
        <h2>Top flows</h2>
      </header>
      <div class="scroll-x">
        <table>
          <thead>
            <tr>
              <th>Source</th>
              <th>Destination</th>
              <th>Proto</th>
              <th class="num">Packets</th>
              <th class="num">Bytes</th>
            </tr>
          </thead>
          <tbody>
            {flows.slice(0, 15).map((f, i) => (
              <tr key={i}>
                <td class="mono">
                  {f.src}:{f.sport}
                  {f.src_name && <div class="sub">{f.src_name}</div>}
                </td>
                <td class="mono">
                  {f.dst}:{f.dport}
                  {f.dst_name && <div class="sub">{f.dst_name}</div>}
                </td>
                <td>{f.proto}</td>
                <td class="num">{fmtNum(f.packets)}</td>
                <td class="num">{fmtBytes(f.bytes)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {flows.length === 0 && <p class="empty">No active flows.</p>}
      </div>
    </section>
  );
}
