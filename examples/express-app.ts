// An Express app: a Node listener (req, res), served as it is:
// `ballast serve examples/express-app.ts`.

import express from 'express';

const app = express();
app.use(express.json());

app.get('/hello', (_req, res) => {
  res.type('text/plain').send('Hello from Express\n');
});
app.get('/users/:id', (req, res) => {
  res.json({ id: req.params.id });
});
app.post('/echo', (req, res) => {
  res.json({ received: req.body });
});

export default app;
