'use strict';
  let source;
  const state = document.getElementById('state');
  const rows = document.getElementById('events');
  const setState = (name, text) => { state.dataset.state = name; state.textContent = text; };
  const TYPES = ['job.status', 'job.progress', 'pack_run.status', 'pack_run.step', 'pack_run.log', 'run.status', 'run.progress'];
  document.getElementById('open').addEventListener('submit', (e) => {
    e.preventDefault();
    if (source) source.close();
    rows.replaceChildren();
    const kind = document.getElementById('kind').value;
    const id = encodeURIComponent(document.getElementById('id').value);
    source = new EventSource(`/api/v1/stream/${kind}/${id}`);
    setState('connecting', 'Connecting…');
    source.onopen = () => setState('live', 'Live');
    source.onerror = () => setState(source.readyState === EventSource.CLOSED ? 'ended' : 'reconnecting',
      source.readyState === EventSource.CLOSED ? 'Ended' : 'Reconnecting…');
    for (const type of TYPES) source.addEventListener(type, (msg) => {
      const event = JSON.parse(msg.data);
      const tr = document.createElement('tr');
      if (event.data.stream === 'stderr') tr.className = 'stderr';
      for (const text of [event.seq, event.type, JSON.stringify(event.data)]) {
        const td = document.createElement('td'); td.textContent = text; tr.append(td);
      }
      rows.append(tr);
    });
    source.addEventListener('end', (msg) => { setState('ended', `Ended: ${JSON.parse(msg.data).reason}`); source.close(); });
    source.addEventListener('gap', (msg) => setState('live', `Live (gap: ${msg.data})`));
  });
